# syntax=docker/dockerfile:1.7
#
# The service image. Two variants from one file:
#   docker build -t classifiers:gpu .                                  # T4: CUDA 12 + cuDNN 9 + TensorRT, onnxruntime GPU providers
#   docker build -t classifiers:cpu --build-arg VARIANT=cpu .          # machines without a GPU
# Engines (what `bun run convert [--trt]` wrote) are mounted at /engines by default, or baked in:
#   docker build --build-arg ENGINES=bake -t classifiers:gpu-baked .  # copies ./engines into the image
# The engine builder (trtexec + bun + convert), used by the Helm chart's init container:
#   docker build --target engine-builder -t classifiers:engine-builder .
#
# The GPU stack is pinned in lib/gpu/stack.ts; these ARG defaults must equal it (a test checks).
ARG BUN_VERSION=1.4.5
ARG CUDA_IMAGE=nvidia/cuda:12.8.0-cudnn-runtime-ubuntu24.04
ARG TENSORRT_IMAGE=nvcr.io/nvidia/tensorrt:25.01-py3
ARG TENSORRT_VERSION=10.8.0.43
ARG CUDA_SUFFIX=cuda12.8
ARG VARIANT=gpu
ARG ENGINES=mount

FROM oven/bun:${BUN_VERSION}-debian AS bun

# Production dependencies, without onnxruntime-node's NuGet download (it is done explicitly below).
FROM bun AS deps-cpu
WORKDIR /app
COPY package.json bun.lock ./
RUN ONNXRUNTIME_NODE_INSTALL=skip bun install --frozen-lockfile --production
# Hugging Face's tokenizers ships its native binding for 13 platforms (64 MB): keep this machine's, and prove it loads.
RUN case "$(uname -m)" in x86_64) keep=linux-x64-gnu ;; aarch64) keep=linux-arm64-gnu ;; *) exit 1 ;; esac \
 && find node_modules/tokenizers -name 'tokenizers.*.node' ! -name "tokenizers.${keep}.node" -delete \
 && bun -e 'if (typeof require("tokenizers").Tokenizer.fromFile !== "function") process.exit(1)'

# The same, plus onnxruntime-node's CUDA 12 provider libraries (NuGet Microsoft.ML.OnnxRuntime.Gpu.Linux).
FROM deps-cpu AS deps-gpu
RUN cd node_modules/onnxruntime-node \
 && ONNXRUNTIME_NODE_INSTALL=cuda12 bun script/install.js \
 && test -f bin/napi-v6/linux/x64/libonnxruntime_providers_tensorrt.so

# /docs's Scalar bundle: one browser file of the version package.json pins (its package is a dev
# dependency: 300 MB of dependencies the image does not need).
FROM bun AS docs-bundle
WORKDIR /build
COPY package.json bun.lock ./
RUN ONNXRUNTIME_NODE_INSTALL=skip bun install --frozen-lockfile \
 && mkdir -p /scalar \
 && cp node_modules/@scalar/api-reference/dist/browser/standalone.js /scalar/standalone.js \
 && bun -e 'console.log(require("@scalar/api-reference/package.json").version)' > /scalar/version

# GPU runtime: CUDA + cuDNN runtime, and exactly the TensorRT the engines are built with.
FROM ${CUDA_IMAGE} AS runtime-gpu
ARG TENSORRT_VERSION
ARG CUDA_SUFFIX
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      "libnvinfer10=${TENSORRT_VERSION}-1+${CUDA_SUFFIX}" \
      "libnvinfer-plugin10=${TENSORRT_VERSION}-1+${CUDA_SUFFIX}" \
      "libnvonnxparsers10=${TENSORRT_VERSION}-1+${CUDA_SUFFIX}" \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=bun /usr/local/bin/bun /usr/local/bin/bun
WORKDIR /app
COPY --from=deps-gpu /app/node_modules ./node_modules
COPY docker/check-native-libs.sh /usr/local/bin/check-native-libs.sh
# Fail the build if a provider library needs something this image lacks (readelf, then removed).
RUN apt-get update && apt-get install -y --no-install-recommends binutils \
 && check-native-libs.sh node_modules/onnxruntime-node/bin/napi-v6/linux/x64 \
      libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so libonnxruntime_providers_tensorrt.so \
 && apt-get purge -y binutils && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
ENV EXECUTION_PROVIDERS=tensorrt,cuda,cpu \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

# CPU runtime: Debian with bun; no GPU libraries.
FROM bun AS runtime-cpu
WORKDIR /app
COPY --from=deps-cpu /app/node_modules ./node_modules
ENV EXECUTION_PROVIDERS=cpu

FROM runtime-${VARIANT} AS app
WORKDIR /app
COPY package.json bun.lock bunfig.toml tsconfig.json ./
# lib: what app and convert share; convert: the first-start conversion (a child process of the app).
COPY lib ./lib
COPY app ./app
COPY convert ./convert
COPY docker/healthcheck.ts ./docker/healthcheck.ts
COPY --from=docs-bundle /scalar ./vendor/scalar
RUN (getent passwd 10001 >/dev/null || useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin app) \
 && mkdir -p /engines && chown 10001:10001 /engines
# Settings (app/config.ts): the port the chart and HEALTHCHECK use, engines from /engines, no Hub
# download at start (engines are built ahead), no transpiler cache writes (read-only root).
ENV PORT=8000 \
    ENGINES_DIR=/engines \
    AUTO_CONVERT=false \
    BUN_RUNTIME_TRANSPILER_CACHE_PATH=0 \
    NODE_ENV=production
EXPOSE 8000
USER 10001:10001
# Models load and warm up before readiness turns 200: allow minutes on first start.
HEALTHCHECK --interval=10s --timeout=5s --start-period=300s --retries=3 CMD ["bun", "docker/healthcheck.ts"]
STOPSIGNAL SIGTERM
CMD ["bun", "app/index.ts"]

# trtexec (the pinned TensorRT) + bun + convert: builds engines on the GPU node (`--trt-runner local`).
FROM ${TENSORRT_IMAGE} AS engine-builder
COPY --from=bun /usr/local/bin/bun /usr/local/bin/bun
WORKDIR /app
COPY --from=deps-cpu /app/node_modules ./node_modules
COPY package.json bun.lock bunfig.toml tsconfig.json ./
# convert never imports app (test/boundaries.test.ts): lib and convert are all it runs.
COPY lib ./lib
COPY convert ./convert
ENV ENGINES_DIR=/engines
ENTRYPOINT ["bun", "convert/index.ts"]
CMD ["--trt", "--trt-runner", "local"]

FROM app AS engines-mount
VOLUME ["/engines"]

FROM app AS engines-bake
COPY --chown=10001:10001 engines/ /engines/

# The default target (last stage): the service of VARIANT, with engines per ENGINES.
FROM engines-${ENGINES} AS service

