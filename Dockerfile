# syntax=docker/dockerfile:1
# One image for every part: the command picks it (`api`, `worker`, `flower`, `emulator`,
# `receiver`), e.g. `docker run mistral-queue worker --concurrency 64`.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY . .
RUN /opt/venv/bin/pip install ./clients/python .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# A fixed uid, so volumes and Kubernetes securityContext rules can name it.
RUN groupadd --system --gid 10001 mq \
    && useradd --system --uid 10001 --gid mq --home-dir /app --no-create-home mq
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER mq:mq
EXPOSE 8000 8800 8900 5555
# Exec form: the CLI is PID 1 and gets SIGTERM itself, so Celery shuts down warm.
ENTRYPOINT ["mistral-queue"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
