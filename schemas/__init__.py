"""Message records for every topic and their JSON Schema export."""
