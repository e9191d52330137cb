# The Isnad app for docker compose: the package with the Elasticsearch client, served by `isnad serve`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# An unprivileged user owns the data directory; the code stays read-only to it.
RUN useradd --system --create-home --home-dir /home/isnad isnad \
    && mkdir -p /var/lib/isnad /data \
    && chown isnad:isnad /var/lib/isnad

# Installed from the source tree (editable) so config/isnad.toml and config/elasticsearch/ are read
# from /app/config, exactly as in a development checkout.
COPY pyproject.toml README.md ./
COPY indexer ./indexer
COPY retrieval ./retrieval
COPY webapp ./webapp
COPY evaluation ./evaluation
COPY cli ./cli
COPY config ./config
COPY samples ./samples
RUN pip install -e '.[es]'

USER isnad
ENV ISNAD_DATA_DIR=/var/lib/isnad
VOLUME ["/var/lib/isnad"]
EXPOSE 8000
CMD ["isnad", "serve", "--host", "0.0.0.0", "--port", "8000"]
