# syntax=docker/dockerfile:1
# Phonebank: one image for every role of the scaled layout (see docker-compose.yml).
#   docker build -t phonebank .
#   docker run --rm -p 8000:8000 --env-file .env phonebank          # everything in one process
#   docker run --rm --env-file .env phonebank db upgrade             # any other command
#
# Every dependency comes from requirements.lock: pinned, and checked against its hashes
# (pip-compile --generate-hashes; see the README's "Dependencies"). Phonebank's own wheel is
# installed without dependencies, so nothing unpinned gets in.

FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,source=requirements.lock,target=/tmp/requirements.lock \
    pip install --require-hashes --no-deps -r /tmp/requirements.lock
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --no-deps --find-links=/wheels phonebank \
    && pip check
RUN useradd --system --uid 10001 --user-group --create-home phonebank \
    && mkdir /data && chown phonebank:phonebank /data
USER phonebank
# The embedded default (sqlite:///phonebank.db) lands in this volume.
WORKDIR /data
VOLUME /data
EXPOSE 8000
ENTRYPOINT ["phonebank"]
CMD ["run", "--host", "0.0.0.0", "--port", "8000"]
