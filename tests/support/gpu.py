"""onnxruntime as a GPU build would look, on the CPU."""

from __future__ import annotations

from pathlib import Path


class FakeGpuRuntime:
    """onnxruntime as a GPU build would look: GPU providers listed, sessions that record what they were asked and
    run on the CPU; ``dropping`` providers are left out of the session, as ONNX Runtime does when one fails."""

    def __init__(self, monkeypatch, dropping=(), missing=()):
        self.sessions = []
        import onnxruntime

        from triton_speech.runtime import onnx as ort

        real = onnxruntime.InferenceSession
        fake = self

        class Session:
            def __init__(self, path, options, providers):
                self.path, self.options, self.providers = Path(path), options, providers
                self.real = real(path, providers=["CPUExecutionProvider"])
                self.fallback_disabled = False
                fake.sessions.append(self)

            def get_providers(self):
                return [name for name, _ in self.providers if name not in dropping] + ["CPUExecutionProvider"]

            def disable_fallback(self):
                self.fallback_disabled = True

            def __getattr__(self, name):
                return getattr(self.real, name)

        listed = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
        monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: listed)
        monkeypatch.setattr(onnxruntime, "InferenceSession", Session)
        monkeypatch.setattr(ort, "missing_libraries", lambda names, *a, **k: [n for n in names if n in missing])
