"""`sluice demo` and the traffic it shares with the benches: generated PII-laden events (`data`) and the Kafka
client that asks the inference flow (`inference_client`)."""
