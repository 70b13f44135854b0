"""Byte formats shared by the worker and the offline side: input lines and Kafka messages, anomaly
events as JSON, engine state in the worker's tables. Pure conversions: no I/O here."""
