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
        pyctcdecode==0.5.0 librosa==0.11.0 tokenizers==0.23.3 inflect==7.6.0 soundfile soxr tqdm "tritonclient[grpc,http]" \
    && pip install --no-cache-dir --no-deps --ignore-requires-python .

# The launcher finds tritonserver on PATH, keeps the restricted APIs behind TRITON_ADMIN_KEY and watches the stubs;
# in a container it must listen on all interfaces.
ENV TRITON_ADDRESS=0.0.0.0
EXPOSE 8000 8001 8002
CMD ["python3", "-m", "triton_speech.server", "--model-repository", "/models"]
