# nstyle in a container (docs/container.md): a build stage on NVIDIA's CUDA 13 cuDNN devel image
# and a runtime stage on the matching cuDNN runtime image. Run it with the GPU:
#   docker build -t nstyle --build-arg NST_VERSION="$(git describe --tags --always --dirty)" .
#   docker run --gpus all --user "$(id -u):$(id -g)" -v "$PWD:/data" \
#       -v "$HOME/.cache/nstyle:/models:ro" nstyle render -c photo.jpg -s painting.jpg -o out.png
# --build-arg NST_CUDA=OFF builds the CPU-only backend (with BASE_IMAGE and RUNTIME_IMAGE set to
# a plain Debian or Ubuntu image, no CUDA is needed at all). No `# syntax=` line: the file needs
# no BuildKit frontend and builds with podman and buildah too.
ARG BASE_IMAGE=nvidia/cuda:13.0.1-cudnn-devel-ubuntu24.04
ARG RUNTIME_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04

FROM ${BASE_IMAGE} AS build
ENV PATH=/usr/local/cuda/bin:${PATH}
WORKDIR /src
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh --build-only && apt-get clean && rm -rf /var/lib/apt/lists/*
# (the build arguments come after the packages, which then stay cached when they change)
# ON: the CUDA backend (nvcc, cuDNN 9 and cuBLAS from the base image); OFF: CPU only
ARG NST_CUDA=ON
# Turing, Ampere, Ada and Hopper as machine code, and Hopper's PTX, which the driver compiles
# for newer GPUs (Blackwell) when first loaded
ARG CUDA_ARCHS="75-real;80-real;86-real;89-real;90-real;90-virtual"
# the build context has no .git: the version comes from here (docs/install.md, "The version")
ARG NST_VERSION=
COPY . .
# only the command, the libraries it installs with and the CUDA module: no tests, no benchmarks
# (POSIX sh: podman's default OCI image format has no SHELL instruction)
RUN set -- nstyle-cli nstyle nstyle_shared && \
    if [ "$NST_CUDA" != OFF ]; then set -- "$@" nstyle_cuda; fi && \
    cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DNST_BUILD_TESTS=OFF \
          -DNST_CUDA="$NST_CUDA" -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS" \
          ${NST_VERSION:+-DNST_VERSION="$NST_VERSION"} && \
    cmake --build /build -j"$(nproc)" --target "$@" && \
    cmake --install /build --prefix /opt/nstyle && \
    mkdir -p /opt/image/usr/local/bin /opt/image/usr/local/lib /opt/image/usr/local/share && \
    cp /opt/nstyle/bin/nstyle /opt/image/usr/local/bin/ && \
    cp -r /opt/nstyle/share/nstyle /opt/image/usr/local/share/ && \
    if [ "$NST_CUDA" != OFF ]; then \
        cp /opt/nstyle/lib/libnstyle_cuda.so /opt/image/usr/local/lib/; fi

FROM ${RUNTIME_IMAGE} AS runtime
# the runtime libraries: OpenBLAS and OpenMP for the CPU backend, ffmpeg for video files, Python
# with pip for the weight scripts (/usr/local/share/nstyle/models); cuDNN 9 and cuBLAS come with
# the CUDA runtime image. Package versions follow the base image's release, not pinned here.
# hadolint ignore=DL3008
RUN apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        libopenblas0 libgomp1 ffmpeg python3 python3-pip && \
    apt-get clean && rm -rf /var/lib/apt/lists/* && \
    useradd --no-log-init --create-home --uid 10001 --shell /usr/sbin/nologin nstyle && \
    mkdir -p /models /data && chown nstyle /data
COPY --from=build /opt/image/ /
# weights: a folder mounted at /models (or ./models in /data, or ~/.cache/nstyle); without them
# `render` and `stylize` say in their one-line error what to mount
ENV NSTYLE_MODELS=/models
ENV NSTYLE_MODELS_HINT="mount the folder that holds it at /models (docker run -v DIR:/models:ro)"
# the user nstyle, by number (a name may not resolve on the host)
USER 10001
WORKDIR /data
ENTRYPOINT ["nstyle"]
CMD ["--help"]
