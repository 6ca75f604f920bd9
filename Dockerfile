# One image for every process of the gateway (Rasa server, action server, case store, notifier);
# the Kubernetes manifests in deploy/k8s choose the command. The trained model is baked in, so a
# pod never trains at start: run `make train` first (it writes models/bekh.tar.gz), then
#   docker build -t registry.example.jo/bekh/gateway:$(git rev-parse --short HEAD) .
# Not built in CI here (no Docker engine on the build machine): kept deliberately plain.
FROM python:3.10-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    RASA_TELEMETRY_ENABLED=false \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 \
    BEKH_VAR_DIR=/tmp/bekh \
    HOME=/tmp

WORKDIR /app

# The same pins as `make install` (requirements.txt is the only install path).
COPY requirements.txt .
RUN pip install --no-cache-dir "pip<25" wheel "setuptools==68.2.2" \
 && pip install --no-cache-dir -r requirements.txt

COPY . .
# Fail the build, not the rollout, when the model was not trained before `docker build`.
RUN test -s models/bekh.tar.gz || { echo "models/bekh.tar.gz is missing: run 'make train' before 'docker build'"; exit 1; }

# A fixed non-root user; the manifests run as this uid (runAsNonRoot).
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin bekh
USER 10001

EXPOSE 5005 5055 8800
CMD ["python", "-m", "bot.launcher", "status"]
