"""Tacotron2 in PyTorch with the parameter layout of NVIDIA DeepLearningExamples checkpoints.

``Tacotron2().state_dict()`` has exactly the names and shapes of the
published ``nvidia_tacotron2pyt_*`` and ``waveglow256pyt_fp16`` checkpoints, so they load with
``strict=True``. The computation follows DLE's inference path with three changes that make a padded
batch give every item what it gets alone, and randomness an explicit input:

* Convolutions over text (encoder), mel frames (postnet) and audio groups (WaveGlow's dilated layers)
  see zeros beyond each item's length, as a lone item sees the convolution's zero padding.
* The prenet's always-on dropout (DLE keeps it on at inference: the model was trained that way and
  speaks badly without it) multiplies by a given mask instead of drawing one inside the model.
* WaveGlow takes its Gaussian noise ``z`` as an input instead of drawing it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from triton_speech.models.dle import length_mask


class LinearLayer(nn.Module):
    """``nn.Linear`` under the attribute name the checkpoints use (``linear_layer``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.linear_layer = nn.Linear(in_features, out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_layer(x)


class ConvLayer(nn.Module):
    """Same-length ``nn.Conv1d`` under the attribute name the checkpoints use (``conv``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def conv_bn(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(ConvLayer(in_channels, out_channels, kernel_size), nn.BatchNorm1d(out_channels))


class Encoder(nn.Module):
    def __init__(self, n_convolutions: int, embedding_dim: int, kernel_size: int):
        super().__init__()
        self.convolutions = nn.ModuleList(
            conv_bn(embedding_dim, embedding_dim, kernel_size) for _ in range(n_convolutions)
        )
        self.lstm = nn.LSTM(embedding_dim, embedding_dim // 2, 1, batch_first=True, bidirectional=True)

    def forward(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, C, T] embedded text -> [B, T, C] memory, zero beyond each item's length."""
        valid = length_mask(lengths, embedded.size(2)).unsqueeze(1).to(embedded.dtype)
        x = embedded
        for conv in self.convolutions:
            x = F.relu(conv(x * valid))
        packed = nn.utils.rnn.pack_padded_sequence(
            x.transpose(1, 2), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, _ = self.lstm(packed)
        memory, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=x.size(2))
        return memory


class LocationLayer(nn.Module):
    def __init__(self, n_filters: int, kernel_size: int, attention_dim: int):
        super().__init__()
        self.location_conv = ConvLayer(2, n_filters, kernel_size, bias=False)
        self.location_dense = LinearLayer(n_filters, attention_dim, bias=False)

    def forward(self, weights_and_cumulative: torch.Tensor) -> torch.Tensor:
        return self.location_dense(self.location_conv(weights_and_cumulative).transpose(1, 2))


class Attention(nn.Module):
    """Location-sensitive attention."""

    def __init__(self, query_dim: int, memory_dim: int, attention_dim: int, n_filters: int, kernel_size: int):
        super().__init__()
        self.query_layer = LinearLayer(query_dim, attention_dim, bias=False)
        self.memory_layer = LinearLayer(memory_dim, attention_dim, bias=False)
        self.v = LinearLayer(attention_dim, 1, bias=False)
        self.location_layer = LocationLayer(n_filters, kernel_size, attention_dim)

    def forward(self, query, memory, processed_memory, weights, weights_cumulative, memory_mask):
        location = self.location_layer(torch.stack((weights, weights_cumulative), dim=1))
        energies = self.v(torch.tanh(self.query_layer(query).unsqueeze(1) + location + processed_memory)).squeeze(2)
        energies = energies.masked_fill(~memory_mask, float("-inf"))
        weights = torch.softmax(energies, dim=1)
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
        return context, weights


class Prenet(nn.Module):
    def __init__(self, in_dim: int, dim: int, n_layers: int = 2):
        super().__init__()
        sizes = [in_dim] + [dim] * n_layers
        self.layers = nn.ModuleList(LinearLayer(a, b, bias=False) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor, dropout_mask: torch.Tensor) -> torch.Tensor:
        """``dropout_mask`` [B, n_layers, dim]: DLE's dropout is keep/0.5 in {0, 2}; all ones turns it off."""
        for index, linear in enumerate(self.layers):
            x = F.relu(linear(x)) * dropout_mask[:, index]
        return x


class Decoder(nn.Module):
    def __init__(self, n_mel_channels, encoder_embedding_dim, attention_dim, attention_location_n_filters,
                 attention_location_kernel_size, attention_rnn_dim, decoder_rnn_dim, prenet_dim):
        super().__init__()
        self.n_mel_channels = n_mel_channels
        self.prenet = Prenet(n_mel_channels, prenet_dim)
        self.attention_rnn = nn.LSTMCell(prenet_dim + encoder_embedding_dim, attention_rnn_dim)
        self.attention_layer = Attention(attention_rnn_dim, encoder_embedding_dim, attention_dim,
                                         attention_location_n_filters, attention_location_kernel_size)
        self.decoder_rnn = nn.LSTMCell(attention_rnn_dim + encoder_embedding_dim, decoder_rnn_dim)
        self.linear_projection = LinearLayer(decoder_rnn_dim + encoder_embedding_dim, n_mel_channels)
        self.gate_layer = LinearLayer(decoder_rnn_dim + encoder_embedding_dim, 1)

    def initial_state(self, memory: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Zero state in ``step``'s order (attention/decoder LSTM h, c; weights; cumulative; context)."""
        batch, max_time, memory_dim = memory.shape
        attention, decoder = self.attention_rnn.hidden_size, self.decoder_rnn.hidden_size
        sizes = (attention, attention, decoder, decoder, max_time, max_time, memory_dim)
        return tuple(memory.new_zeros(batch, size) for size in sizes)

    def step(self, previous_frame, prenet_dropout_mask, attention_hidden, attention_cell, decoder_hidden, decoder_cell,
             attention_weights, attention_weights_cum, attention_context, memory, processed_memory, memory_mask):
        """One autoregressive step: (mel frame [B, n_mel], gate logit [B], *new state in the input order)."""
        prenet_output = self.prenet(previous_frame, prenet_dropout_mask)
        attention_hidden, attention_cell = self.attention_rnn(
            torch.cat((prenet_output, attention_context), dim=1), (attention_hidden, attention_cell)
        )
        attention_context, attention_weights = self.attention_layer(
            attention_hidden, memory, processed_memory, attention_weights, attention_weights_cum, memory_mask
        )
        attention_weights_cum = attention_weights_cum + attention_weights
        decoder_hidden, decoder_cell = self.decoder_rnn(
            torch.cat((attention_hidden, attention_context), dim=1), (decoder_hidden, decoder_cell)
        )
        projection_input = torch.cat((decoder_hidden, attention_context), dim=1)
        mel_frame = self.linear_projection(projection_input)
        gate_logit = self.gate_layer(projection_input).squeeze(1)
        return (mel_frame, gate_logit, attention_hidden, attention_cell, decoder_hidden, decoder_cell,
                attention_weights, attention_weights_cum, attention_context)


class Postnet(nn.Module):
    def __init__(self, n_mel_channels: int, embedding_dim: int, kernel_size: int, n_convolutions: int):
        super().__init__()
        channels = [n_mel_channels] + [embedding_dim] * (n_convolutions - 1) + [n_mel_channels]
        self.convolutions = nn.ModuleList(conv_bn(a, b, kernel_size) for a, b in zip(channels[:-1], channels[1:]))

    def forward(self, mel: torch.Tensor, mel_lengths: torch.Tensor) -> torch.Tensor:
        """The residual DLE adds to the decoder's mel (tanh between layers, linear last)."""
        valid = length_mask(mel_lengths, mel.size(2)).unsqueeze(1).to(mel.dtype)
        x = mel
        for index, conv in enumerate(self.convolutions):
            x = conv(x * valid)
            if index < len(self.convolutions) - 1:
                x = torch.tanh(x)
        return x

    @property
    def context_frames(self) -> int:
        """How many frames on each side an output frame depends on (each convolution reads its padding's worth):
        a window of decoder frames with this much context either side gives the full mel's postnet frames."""
        return sum(layer[0].conv.padding[0] for layer in self.convolutions)


class Tacotron2(nn.Module):
    """DLE Tacotron2 (``n_frames_per_step`` 1); defaults are the published checkpoints' hyperparameters."""

    def __init__(self, n_mel_channels: int = 80, n_symbols: int = 148, symbols_embedding_dim: int = 512,
                 encoder_kernel_size: int = 5, encoder_n_convolutions: int = 3, encoder_embedding_dim: int = 512,
                 attention_rnn_dim: int = 1024, attention_dim: int = 128, attention_location_n_filters: int = 32,
                 attention_location_kernel_size: int = 31, decoder_rnn_dim: int = 1024, prenet_dim: int = 256,
                 postnet_embedding_dim: int = 512, postnet_kernel_size: int = 5, postnet_n_convolutions: int = 5):
        super().__init__()
        if symbols_embedding_dim != encoder_embedding_dim:
            raise ValueError("symbols_embedding_dim must equal encoder_embedding_dim (the encoder convolves them)")
        self.n_mel_channels = n_mel_channels
        self.embedding = nn.Embedding(n_symbols, symbols_embedding_dim)
        self.encoder = Encoder(encoder_n_convolutions, encoder_embedding_dim, encoder_kernel_size)
        self.decoder = Decoder(n_mel_channels, encoder_embedding_dim, attention_dim, attention_location_n_filters,
                               attention_location_kernel_size, attention_rnn_dim, decoder_rnn_dim, prenet_dim)
        self.postnet = Postnet(n_mel_channels, postnet_embedding_dim, postnet_kernel_size, postnet_n_convolutions)

    # Training-only or loop settings found in a checkpoint's 'config'; they do not change the network.
    _RUNTIME_CONFIG_KEYS = {"mask_padding", "max_decoder_steps", "gate_threshold", "p_attention_dropout",
                            "p_decoder_dropout", "decoder_no_early_stopping", "n_frames_per_step",
                            "text_normalization"}

    @classmethod
    def from_config(cls, config: dict) -> "Tacotron2":
        if config.get("n_frames_per_step", 1) != 1:
            raise ValueError(f"n_frames_per_step {config['n_frames_per_step']} is not supported (DLE publishes 1)")
        return cls(**{k: v for k, v in config.items() if k not in cls._RUNTIME_CONFIG_KEYS})

    @property
    def prenet_shape(self) -> tuple[int, int]:
        """(layers, units) of the prenet dropout mask of one item and step."""
        return len(self.decoder.prenet.layers), self.decoder.prenet.layers[-1].linear_layer.out_features

    def encode(self, text: torch.Tensor, text_length: torch.Tensor):
        """int64 [B, T] ids, [B] lengths -> memory [B, T, C], processed memory [B, T, A], mask [B, T] (True = valid)."""
        memory = self.encoder(self.embedding(text).transpose(1, 2), text_length)
        processed_memory = self.decoder.attention_layer.memory_layer(memory)
        return memory, processed_memory, length_mask(text_length, text.size(1))

    def postnet_mel(self, mel: torch.Tensor, mel_length: torch.Tensor) -> torch.Tensor:
        """Decoder mel [B, n_mel, T] -> final mel (decoder mel + postnet residual)."""
        return mel + self.postnet(mel, mel_length)

    def forward(self, text: torch.Tensor, text_length: torch.Tensor, mel_target: torch.Tensor,
                prenet_dropout_masks: torch.Tensor):
        """Teacher-forced training pass over target mels [B, n_mel, F] (masks [F, B, layers, units]).

        Each step sees the previous target frame (zeros first), as in DLE's training. Returns decoder mel and
        postnet mel [B, n_mel, F] (before masking; the loss masks padding), gate logits [B, F] and attention
        weights [B, F, T].
        """
        memory, processed_memory, memory_mask = self.encode(text, text_length)
        state = self.decoder.initial_state(memory)
        previous = torch.cat((mel_target.new_zeros(mel_target.size(0), self.n_mel_channels, 1),
                              mel_target[:, :, :-1]), dim=2)
        frames, gates, alignments = [], [], []
        for t in range(mel_target.size(2)):
            frame, gate_logit, *state = self.decoder.step(previous[:, :, t], prenet_dropout_masks[t], *state,
                                                          memory, processed_memory, memory_mask)
            frames.append(frame)
            gates.append(gate_logit)
            alignments.append(state[4])  # attention_weights
        mel = torch.stack(frames, dim=2)
        mel_length = torch.full((mel.size(0),), mel.size(2), dtype=torch.int64)
        return mel, self.postnet_mel(mel, mel_length), torch.stack(gates, dim=1), torch.stack(alignments, dim=1)

    @torch.no_grad()
    def infer(self, text: torch.Tensor, text_length: torch.Tensor, prenet_dropout_masks: torch.Tensor,
              gate_threshold: float = 0.5):
        """Reference decoding loop: at most ``prenet_dropout_masks.shape[0]`` steps (masks [steps, B, layers, units]).

        An item stops at the first step whose gate probability exceeds ``gate_threshold``; that frame is kept
        (as in NVIDIA/tacotron2). Returns final mel [B, n_mel, T], lengths [B], and whether each item hit the limit.
        """
        memory, processed_memory, memory_mask = self.encode(text, text_length)
        state = self.decoder.initial_state(memory)
        frame = memory.new_zeros(text.size(0), self.n_mel_channels)
        lengths = torch.zeros(text.size(0), dtype=torch.int64)
        running = torch.ones(text.size(0), dtype=torch.bool)
        frames = []
        for mask in prenet_dropout_masks:
            frame, gate_logit, *state = self.decoder.step(frame, mask, *state, memory, processed_memory, memory_mask)
            frames.append(frame)
            lengths += running.long()
            running &= torch.sigmoid(gate_logit) <= gate_threshold
            if not running.any():
                break
        mel = torch.stack(frames, dim=2)
        return self.postnet_mel(mel, lengths), lengths, running
