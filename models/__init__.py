"""Everything about ML and data processing: cleaning, de-identification, embedding, the vector store."""
