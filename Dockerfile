# The ngc target's server: NVIDIA's Triton container (native onnxruntime_onnx and tensorrt_plan backends on the GPU)
# plus what the python models import. Build the repository on the host first (make repository TARGET=ngc), then
# (docs/deploy-gpu.md):
#   docker build -t triton-speech .
#   docker run --gpus all --rm -p 8000-8002:8000-8002 -v $PWD/model_repository:/models \
#       -v triton-speech-engines:/engine_cache -e TRITON_ADMIN_KEY=$(openssl rand -hex 24) triton-speech
# The base image's versions (Python 3.10, CUDA 12.6, cuDNN 9.5, TensorRT 10.5) are in triton_speech/gpu_stack.py.
FROM nvcr.io/nvidia/tritonserver:24.10-py3

WORKDIR /opt/triton-speech
COPY pyproject.toml README.md ./
COPY requirements/ requirements/
COPY triton_speech/ triton_speech/
# requirements/ngc.txt: the serving dependencies (and boto3, for repositories in object storage) for this Python,
# locked with their hashes (tools/gpu_lock.py), with onnxruntime-gpu 1.20 (CUDA 12, cuDNN 9; its TensorRT provider is
# built for TensorRT 10) for the python models that host their own graphs (the Tacotron2 loop, WaveGlow); numpy<2,
# which the python backend of Triton 24.10 needs. The container's own CUDA, cuDNN and TensorRT libraries serve it;
# then the package itself, without dependencies.
RUN pip install --no-cache-dir --require-hashes --only-binary=:all: -r requirements/ngc.txt \
    && pip install --no-cache-dir --no-deps . \
    && mkdir -p /engine_cache
# The launcher's shim (which keeps the admin key off tritonserver's command line) is built with the C compiler.
RUN (command -v cc || (apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
        && rm -rf /var/lib/apt/lists/*)) \
    && python3 -c "from triton_speech.server.launch import shim_library; shim_library()"

# TensorRT engines built at load are kept here; mount a volume so that a new container finds them.
VOLUME /engine_cache
# The launcher finds tritonserver on PATH, creates the engine cache folders, keeps the restricted APIs behind
# TRITON_ADMIN_KEY and watches the stubs; in a container it must listen on all interfaces.
ENV TRITON_ADDRESS=0.0.0.0
EXPOSE 8000 8001 8002
CMD ["python3", "-m", "triton_speech.server", "--model-repository", "/models"]
