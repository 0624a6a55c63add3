"""Declarative Kafka topic specs and the code that applies them."""
