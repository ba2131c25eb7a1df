"""Production settings: DJANGO_SETTINGS_MODULE=evalbuilder.settings_production.

Everything in evalbuilder.settings, made strict: no debug pages, a secret key and host names
that must come from the environment, and HTTPS throughout. TLS is expected to end at a proxy
or load balancer that sets X-Forwarded-Proto. `manage.py check --deploy --fail-level WARNING`
passes with these settings (tests/test_deployment.py runs it).

EVALBUILDER_HTTPS=false serves plain HTTP, to try the production stack on a laptop without
certificates: no redirect, no HSTS, cookies sent over HTTP. `check --deploy` then warns.
"""

from django.core.exceptions import ImproperlyConfigured

from evalbuilder.client_address import proxy_networks
from evalbuilder.settings import *  # noqa: F403
from evalbuilder.settings import EVALBUILDER_TRUSTED_PROXY_NETWORKS, env

DEBUG = False

# Django's own rule for a strong key (check --deploy, security.W009).
_SECRET_KEY_MIN_LENGTH = 50
_SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5

# Read from the environment only: the key file the development settings keep under var/ is
# per machine, and a second web server would sign sessions with a different key.
SECRET_KEY = env("SECRET_KEY", default="")
if (
    len(SECRET_KEY) < _SECRET_KEY_MIN_LENGTH
    or len(set(SECRET_KEY)) < _SECRET_KEY_MIN_UNIQUE_CHARACTERS
):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set in the environment to a random string of at least "
        f"{_SECRET_KEY_MIN_LENGTH} characters for evalbuilder.settings_production "
        f"(it is {'unset' if not SECRET_KEY else f'{len(SECRET_KEY)} characters long'}). "
        "Make one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
# The prefix of the key startproject writes into a new project's settings: such a key has
# been in a file, and maybe in version control, since the day it was made.
if SECRET_KEY.startswith("django-insecure-"):
    raise ImproperlyConfigured(
        "SECRET_KEY starts with 'django-insecure-': it is a development key, made by "
        "startproject. Make a new one for evalbuilder.settings_production with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )

# A typing mistake in the proxies' networks stops the server here, not at its first request.
proxy_networks(tuple(EVALBUILDER_TRUSTED_PROXY_NETWORKS))

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must name the host names the site answers to, comma-separated "
        "(e.g. ALLOWED_HOSTS=evalbuilder.example.org), for evalbuilder.settings_production."
    )

EVALBUILDER_HTTPS = env.bool("EVALBUILDER_HTTPS", default=True)
SESSION_COOKIE_SECURE = EVALBUILDER_HTTPS
CSRF_COOKIE_SECURE = EVALBUILDER_HTTPS
SECURE_SSL_REDIRECT = EVALBUILDER_HTTPS
if EVALBUILDER_HTTPS:
    # The proxy that ends TLS says so in this header; it must set it on every request, so
    # that a client cannot. /healthz answers before the redirect (HealthCheckMiddleware
    # comes before SecurityMiddleware), so health checks over plain HTTP keep working.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Browsers remember this for the whole time: a shorter EVALBUILDER_HSTS_SECONDS (an
    # hour, then a week) is the cautious way to turn it on for a domain the first time.
    SECURE_HSTS_SECONDS = env.int("EVALBUILDER_HSTS_SECONDS", default=365 * 24 * 60 * 60)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
