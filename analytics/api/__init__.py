"""The JSON API: every KPI of the registry, and the endpoints an existing streaming
dashboard reads (see `urls.py`). Views stay thin: filters are parsed by forms and
serializers, numbers come from the KPI registry, per-listener reads from `selectors`."""
