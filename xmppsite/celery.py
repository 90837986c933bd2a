"""The Celery app. Embedded default: no broker, tasks run in-process (eager);
production sets CELERY_BROKER_URL (Redis or RabbitMQ) and runs workers."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xmppsite.settings")
app = Celery("xmppsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
