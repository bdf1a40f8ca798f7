# syntax=docker/dockerfile:1
# Build: docker build -t support-bot .
# Run:   docker run --env-file .env -v support-bot-data:/data support-bot

FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /venv
# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
# The placeholders and setuptools' in-tree build/ go afterwards: build/ would keep the empty
# __init__.py files (newer than the real sources copied below) and they would be installed.
RUN mkdir bot handlers storage \
    && touch bot/__init__.py handlers/__init__.py storage/__init__.py \
    && /venv/bin/pip install . \
    && /venv/bin/pip uninstall -y telegram-support-bot \
    && rm -rf build ./*.egg-info bot handlers storage
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN /venv/bin/pip install --no-deps .

FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/venv/bin:$PATH \
    DATABASE_PATH=/data/support_bot.sqlite3 \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin bot \
    && mkdir -p /data && chown bot:bot /data
COPY --from=build /venv /venv
USER bot
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# No curl in slim images: the standard library asks /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"HTTP_PORT\", \"8080\")}/healthz', timeout=4).status == 200 else 1)"]
# The bot handles SIGTERM (docker stop): it finishes running work and exits 0.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
