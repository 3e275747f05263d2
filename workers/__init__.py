"""Celery workers (distributed mode). Thin tasks over kontext_preview's services; coming with
the distributed-mode issue. The embedded default runs everything in the API process."""
