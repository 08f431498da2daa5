"""The WSGI application for gunicorn (the Procfile's web process). Each process loads the embedding model as it
starts (WARM_UP_EMBEDDINGS=false skips it), so no clinician's first search waits seconds for it."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carebase.settings")
application = get_wsgi_application()

if os.environ.get("WARM_UP_EMBEDDINGS", "true").lower() not in ("0", "false", "no"):
    from search.embedding import warm_up

    warm_up()
