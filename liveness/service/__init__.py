"""What liveness_api.py (the HTTP layer) serves with: the decision rules and the publish folder, the scoring
processes, API keys, rate limits, the state shared between replicas, and telemetry."""
