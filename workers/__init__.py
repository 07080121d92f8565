"""Celery workers: the app object lives in `workers.celery_app`; tasks arrive with the Workers issue."""
