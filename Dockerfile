# The ngc target's server: NVIDIA's Triton container (native onnxruntime_onnx and tensorrt_plan backends on the GPU)
# plus what the python models import. Build the repository on the host first (make repository TARGET=ngc), then:
#   docker build -t triton-speech .
#   docker run --gpus all --rm -p 8000-8002:8000-8002 -v $PWD/model_repository:/models \
#       -e TRITON_ADMIN_KEY=$(openssl rand -hex 24) triton-speech
FROM nvcr.io/nvidia/tritonserver:24.10-py3

WORKDIR /opt/triton-speech
COPY pyproject.toml README.md ./
COPY requirements/ requirements/
COPY triton_speech/ triton_speech/
# numpy<2: the python backend of Triton 24.10 returns empty tensors under numpy 2. onnxruntime-gpu for the python
# models that host their own graphs (the Tacotron2 loop, WaveGlow); the package itself without its pip-Triton extras.
RUN pip install --no-cache-dir -c requirements/constraints.txt "numpy<2" onnxruntime-gpu==1.31.1 \
        pyctcdecode==0.5.0 librosa==0.11.0 tokenizers==0.23.3 soundfile soxr tqdm "tritonclient[grpc,http]" \
    && pip install --no-cache-dir --no-deps --ignore-requires-python .
# The launcher: its shim (which keeps the admin key off tritonserver's command line) is built with the C compiler;
# boto3 lists a model repository in object storage (--model-repository s3://...); tenacity: the clients' retries.
RUN pip install --no-cache-dir -c requirements/constraints.txt boto3==1.44.18 tenacity==9.2.1 \
    && (command -v cc || (apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
        && rm -rf /var/lib/apt/lists/*)) \
    && python3 -c "from triton_speech.server.launch import shim_library; shim_library()"

# The launcher finds tritonserver on PATH, keeps the restricted APIs behind TRITON_ADMIN_KEY and watches the stubs;
# in a container it must listen on all interfaces.
ENV TRITON_ADDRESS=0.0.0.0
EXPOSE 8000 8001 8002
CMD ["python3", "-m", "triton_speech.server", "--model-repository", "/models"]
