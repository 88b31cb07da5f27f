"""Training-step time of recurrent models: gradcore eager vs PyTorch eager (ms per step).

One step = zero_grad, forward, loss, backward, Adam(lr=1e-3) step, on a fixed random batch:
    rnn_tanh_in32_h64_L20_b32_adam     nn.RNN(32, 64) over 20 steps, batch 32
    lstm_in32_h64_L20_b32_adam         nn.LSTM(32, 64), same sizes
    gru_in32_h64_L20_b32_adam          nn.GRU(32, 64), same sizes
then a Linear(64, 10) head on the last layer's h_n and cross-entropy. Both models start from
the same weights (drawn once in numpy, U(-1/sqrt(H), 1/sqrt(H)) as torch's init), so
``loss0_*`` (the first step's loss) must agree. ratio_vs_torch = torch ms / gradcore ms.

    python bench/bench_rnn.py [--quick] [--reps N]
"""
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import _harness as H  # noqa: E402

gc, np = H.gc, H.np

# (workload, module, input size, hidden, steps, batch, classes)
CONFIGS = [("rnn_tanh_in32_h64_L20_b32_adam", "RNN", 32, 64, 20, 32, 10),
           ("lstm_in32_h64_L20_b32_adam", "LSTM", 32, 64, 20, 32, 10),
           ("gru_in32_h64_L20_b32_adam", "GRU", 32, 64, 20, 32, 10)]
QUICK = [("rnn_tanh_in8_h16_L5_b4_adam", "RNN", 8, 16, 5, 4, 3),
         ("lstm_in8_h16_L5_b4_adam", "LSTM", 8, 16, 5, 4, 3),
         ("gru_in8_h16_L5_b4_adam", "GRU", 8, 16, 5, 4, 3)]
LR = 1e-3
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _init_weights(kind, n_in, hidden, classes):
    """{state-dict key: float32 array}: the recurrent layer's and the head's (as 'head.*')."""
    rng = np.random.default_rng(0)
    k, g = 1.0 / np.sqrt(hidden), GATES[kind] * hidden
    u = lambda *s, b=k: rng.uniform(-b, b, s).astype(np.float32)  # noqa: E731
    rec = {"weight_ih_l0": u(g, n_in), "weight_hh_l0": u(g, hidden),
           "bias_ih_l0": u(g), "bias_hh_l0": u(g)}
    kh = 1.0 / np.sqrt(hidden)
    head = {"weight": u(classes, hidden, b=kh), "bias": u(classes, b=kh)}
    return rec, head


def _last_hidden(h):
    return (h[0] if isinstance(h, tuple) else h)[-1]


def _gc_setup(kind, rec, head_w, x, y):
    nn = gc.nn
    hidden, n_in = rec["weight_hh_l0"].shape[1], rec["weight_ih_l0"].shape[1]
    model = getattr(nn, kind)(n_in, hidden)
    model.load_state_dict(rec)
    head = nn.Linear(hidden, head_w["weight"].shape[0])
    head.load_state_dict(head_w)
    opt = gc.optim.Adam(list(model.parameters()) + list(head.parameters()), lr=LR)
    xt, yt = gc.tensor(x), gc.tensor(y)
    ce = nn.functional.cross_entropy

    def step():
        opt.zero_grad()
        _, h = model(xt)
        loss = ce(head(_last_hidden(h)), yt)
        loss.backward()
        opt.step()
        return loss
    return step


def _torch_setup(torch, kind, rec, head_w, x, y):
    hidden, n_in = rec["weight_hh_l0"].shape[1], rec["weight_ih_l0"].shape[1]
    model = getattr(torch.nn, kind)(n_in, hidden)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in rec.items()})
    head = torch.nn.Linear(hidden, head_w["weight"].shape[0])
    head.load_state_dict({k: torch.from_numpy(v) for k, v in head_w.items()})
    opt = torch.optim.Adam(list(model.parameters()) + list(head.parameters()), lr=LR)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    ce = torch.nn.functional.cross_entropy

    def step():
        opt.zero_grad()
        _, h = model(xt)
        loss = ce(head(_last_hidden(h)), yt)
        loss.backward()
        opt.step()
        return loss
    return step


def bench_config(s, torch, name, kind, n_in, hidden, steps, batch, classes):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((steps, batch, n_in)).astype(np.float32)
    y = rng.integers(0, classes, batch)
    rec, head_w = _init_weights(kind, n_in, hidden, classes)
    gstep = _gc_setup(kind, rec, head_w, x, y)
    rec_out = {"workload": name, "unit": "ms_per_step", "loss0_gradcore": float(gstep().item())}
    cands = {"gradcore": gstep}
    if torch is not None:
        tstep = _torch_setup(torch, kind, rec, head_w, x, y)
        rec_out["loss0_torch"] = float(tstep().item())
        cands["torch"] = tstep
    med, spread = s.time(cands, target_s=s.target_s * 4)
    return H.finish(rec_out, med, spread, 1e3)


def run_bench(s):
    torch = H.try_torch()
    return [bench_config(s, torch, *c) for c in (QUICK if s.quick else CONFIGS)]


def main(argv=None):
    return H.module_main(run_bench, "RNN / LSTM / GRU training-step time vs torch", argv)


if __name__ == "__main__":
    main()
