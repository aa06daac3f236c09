# Dockerfile - the cubeserve runtime image: one image for every model. Models
# are data: a pod's init container copies a version's files from the model
# store by sha256 (docs/kubernetes.md), so a new model or version needs no
# new image. Built from this source tree on Debian 12:
#
#   docker build -t cubeserve:0.1.0 .
#   docker run --rm cubeserve:0.1.0 cubeserve --version
#
# The image holds cubeserve-worker, cubeserve, the plugins (native, onnx;
# the TorchScript backend is left out: libtorch would add about 1 GB; build
# with --build-arg TORCH=yes for it), the Lua library, the nginx templates,
# nginx (nginx-light), curl and sha256sum for the init container. It runs as
# the unprivileged user cubeserve (uid 10001), the user the exported pods ask
# for.

ARG DEBIAN=debian:12

FROM ${DEBIAN} AS build
ARG TORCH=no
RUN apt-get update -q && \
    apt-get install -y -q --no-install-recommends \
        build-essential autoconf automake libtool pkg-config \
        libfcgi-dev libjemalloc-dev libjansson-dev liblua5.4-dev libhiredis-dev nettle-dev \
        libopencv-dnn-dev && \
    if [ "$TORCH" = yes ]; then apt-get install -y -q --no-install-recommends libtorch-dev; fi && \
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN autoreconf -fi && \
    ./configure --prefix=/usr/local $([ "$TORCH" = yes ] || echo --without-torch) && \
    make -j"$(nproc)" && \
    make install DESTDIR=/out

FROM ${DEBIAN}
ARG TORCH=no
RUN apt-get update -q && \
    apt-get install -y -q --no-install-recommends \
        libfcgi0ldbl libjemalloc2 libjansson4 liblua5.4-0 libhiredis0.14 libnettle8 \
        libopencv-dnn406 nginx-light curl ca-certificates && \
    if [ "$TORCH" = yes ]; then apt-get install -y -q --no-install-recommends libtorch1.13; fi && \
    rm -rf /var/lib/apt/lists/* && \
    groupadd --gid 10001 cubeserve && \
    useradd --uid 10001 --gid 10001 --home-dir /var/lib/cubeserve --create-home \
        --shell /usr/sbin/nologin cubeserve && \
    mkdir -p /var/lib/cubeserve/store /run/cubeserve && \
    chown -R cubeserve:cubeserve /var/lib/cubeserve /run/cubeserve
COPY --from=build /out/usr/local /usr/local
RUN ldconfig && cubeserve --version && cubeserve-worker --version
USER 10001:10001
WORKDIR /var/lib/cubeserve
ENV CUBESERVE_STORE=/var/lib/cubeserve/store
EXPOSE 8080
CMD ["cubeserve", "--help"]
