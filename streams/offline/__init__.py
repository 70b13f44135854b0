"""The backtest side: replay a file, simulate labelled streams, score detectors against the truth.

Reads files and writes files; never talks to Kafka, InfluxDB or Grafana.
"""
