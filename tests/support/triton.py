"""What a running server says about its models: statistics, outputs."""

from __future__ import annotations


def inference_stats(triton, model: str) -> tuple[int, int]:
    """(inference count, execution count) of ``model``: fewer executions than inferences means batching."""
    from triton_speech.client import TritonConnection

    stats = TritonConnection(triton.grpc_url).client.get_inference_statistics(
        model, headers=triton.admin_headers("grpc"), as_json=True)
    entry = stats["model_stats"][0]
    return int(entry.get("inference_count", 0)), int(entry.get("execution_count", 0))


def outputs_of(connection, model: str) -> list[str]:
    """The output names of a served model, from its metadata."""
    metadata = connection.client.get_model_metadata(model, **({"as_json": True} if connection.protocol == "grpc"
                                                              else {}))
    return [output["name"] for output in metadata["outputs"]]
