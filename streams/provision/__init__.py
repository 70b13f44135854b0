"""Setting up the services dipwatch writes to: InfluxDB's database and Grafana's dashboards and alerts."""
