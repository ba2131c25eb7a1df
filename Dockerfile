# evalbuilder: one image for the web server, the Celery worker and beat.
# Debian trixie, whose postgresql-client (17) matches the postgres:17 server of
# docker-compose.yml: pg_dump refuses to dump a server newer than itself.
FROM python:3.11-slim-trixie

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    PATH="/opt/venv/bin:$PATH" \
    EVALBUILDER_VAR_DIR=/var/lib/evalbuilder \
    DJANGO_SETTINGS_MODULE=evalbuilder.settings_production

# DejaVu Sans lets PDF reports print any Latin, Greek or Cyrillic text; the PostgreSQL client
# gives `manage.py backup` and `restore` their pg_dump and pg_restore.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core postgresql-client \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv \
    && useradd --system --create-home --home-dir /home/evalbuilder evalbuilder \
    && mkdir -p /var/lib/evalbuilder && chown evalbuilder /var/lib/evalbuilder

WORKDIR /app
COPY pyproject.toml README.md ./
RUN uv sync --no-dev --no-install-project
COPY . .
# Static files are the same under every profile; the production one would demand a real key.
RUN DJANGO_SETTINGS_MODULE=evalbuilder.settings SECRET_KEY=collectstatic-only \
    python manage.py collectstatic --noinput \
    && chown -R evalbuilder /var/lib/evalbuilder

USER evalbuilder
EXPOSE 8000
CMD ["gunicorn", "evalbuilder.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
