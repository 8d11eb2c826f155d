#!/usr/bin/python3
"""Writes the PyTorch references of nabla's optimizers, learning-rate
schedules and parameter-level gradient clipping, tests/ref/optim/*.json:

  optim.json  optimizer trajectories: initial parameters, the gradient of
              every parameter at every step (null: no gradient, the
              parameter is skipped), the parameters after every step, and
              the optimizer state at the end under PyTorch's names;
  sched.json  the learning rate of each schedule at epochs 0..E;
  lr_scheduler.json  the schedules of issue 16 (LinearLR, LambdaLR,
              OneCycleLR, ReduceLROnPlateau, SequentialLR, and the older
              ones over two parameter groups): every group's lr at every
              step 0..S;
  clip.json   torch.nn.utils.clip_grad_norm_ / clip_grad_value_ results.

These are not op cases, so they live outside tests/ref/ (which
tests/test_reference.c replays as ops).  tests/test_optim.c and
tests/test_regularize.c replay them without PyTorch.
Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_optim_ref.py
"""
import json
import math
import os
import warnings
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "optim")
DTYPES = ("float32", "float64")
SHAPES = ([3, 4], [5], [2, 1, 3])
STEPS = 6
# Gradient magnitude per step: large and small steps, so that amsgrad's
# running max and the momentum buffers matter.
SCALES = (1.0, 3.0, 0.2, 1.0, 0.05, 2.0)


def tensor_json(t):
    return {"shape": list(t.shape),
            "data": [float(v) for v in t.detach().double().reshape(-1)]}


def gen_for(name, dtype_name):
    return torch.Generator().manual_seed(
        zlib.crc32((name + dtype_name).encode()))


# ---- optimizers ----

SGD = dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
           nesterov=False, maximize=False)
ADAM = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
            amsgrad=False, maximize=False)
RMSPROP = dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
               momentum=0.0, centered=False, maximize=False)
DEFAULTS = {"sgd": SGD, "adam": ADAM, "adamw": dict(ADAM, weight_decay=1e-2),
            "rmsprop": RMSPROP}


def make_optimizer(kind, params, o):
    if kind == "sgd":
        return torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"],
                               dampening=o["dampening"],
                               weight_decay=o["weight_decay"],
                               nesterov=o["nesterov"], maximize=o["maximize"],
                               foreach=False)
    if kind in ("adam", "adamw"):
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        return cls(params, lr=o["lr"], betas=(o["beta1"], o["beta2"]),
                   eps=o["eps"], weight_decay=o["weight_decay"],
                   amsgrad=o["amsgrad"], maximize=o["maximize"],
                   foreach=False)
    return torch.optim.RMSprop(params, lr=o["lr"], alpha=o["alpha"],
                               eps=o["eps"], weight_decay=o["weight_decay"],
                               momentum=o["momentum"],
                               centered=o["centered"],
                               maximize=o["maximize"], foreach=False)


def optim_case(name, kind, skip=(), groups=None, **opts):
    """skip: (step, param) pairs whose gradient is None.  groups: None
    (one group), or a list of (count, overrides) splitting the
    parameters, in order, into groups with those options."""
    o = dict(DEFAULTS[kind], **opts)
    return dict(name=name, kind=kind, opts=o, skip=set(skip), groups=groups)


OPTIM_CASES = [
    optim_case("sgd-plain", "sgd", lr=0.1),
    optim_case("sgd-momentum", "sgd", lr=0.05, momentum=0.9),
    optim_case("sgd-nesterov-wd", "sgd", lr=0.05, momentum=0.9,
               nesterov=True, weight_decay=0.01),
    optim_case("sgd-dampening-wd-maximize", "sgd", lr=0.1, momentum=0.5,
               dampening=0.3, weight_decay=0.1, maximize=True),
    optim_case("sgd-momentum-skip", "sgd", lr=0.1, momentum=0.9,
               skip=[(0, 1), (3, 1), (2, 2)]),
    optim_case("adam-default", "adam"),
    optim_case("adam-l2", "adam", lr=0.01, weight_decay=0.1),
    optim_case("adam-amsgrad", "adam", lr=0.02, beta1=0.8, beta2=0.99,
               eps=1e-6, amsgrad=True),
    optim_case("adam-maximize-skip", "adam", lr=0.01, maximize=True,
               skip=[(0, 0), (1, 2), (4, 0)]),
    optim_case("adamw-default", "adamw", lr=0.01),
    optim_case("adamw-amsgrad-wd", "adamw", lr=0.01, weight_decay=0.1,
               amsgrad=True, skip=[(2, 1)]),
    optim_case("adamw-beta1-0", "adamw", lr=0.005, beta1=0.0, beta2=0.9),
    optim_case("rmsprop-default", "rmsprop"),
    optim_case("rmsprop-centered", "rmsprop", lr=0.01, centered=True),
    optim_case("rmsprop-momentum-centered-wd", "rmsprop", lr=0.01,
               momentum=0.9, centered=True, weight_decay=0.05),
    optim_case("rmsprop-momentum-alpha-eps", "rmsprop", lr=0.02,
               momentum=0.5, alpha=0.9, eps=1e-4, skip=[(1, 0)]),
    # parameter groups (issue 16): per-group lr, weight_decay, momentum
    # or betas; the other options are the optimizer's
    optim_case("sgd-groups", "sgd", lr=0.1, momentum=0.9,
               groups=[(1, {}), (2, dict(lr=0.01, weight_decay=0.1,
                                         momentum=0.5))]),
    optim_case("sgd-groups-momentum-0-and-not", "sgd", lr=0.05,
               groups=[(2, dict(weight_decay=0.01)),
                       (1, dict(momentum=0.9))], skip=[(2, 2)]),
    optim_case("adam-groups-betas", "adam", lr=0.01,
               groups=[(1, dict(betas=(0.5, 0.9))),
                       (1, dict(lr=0.001, weight_decay=0.1)),
                       (1, dict(betas=(0.0, 0.99)))]),
    optim_case("adamw-no-decay-groups", "adamw", lr=0.01, weight_decay=0.1,
               amsgrad=True, groups=[(2, {}), (1, dict(weight_decay=0.0))]),
    optim_case("rmsprop-groups", "rmsprop", lr=0.01, centered=True,
               groups=[(1, dict(momentum=0.9)), (2, dict(lr=0.001,
                                                         weight_decay=0.05))]),
]


def run_optim(c, dtype_name):
    dtype = getattr(torch, dtype_name)
    gen = gen_for(c["name"], dtype_name)
    params = [torch.randn(s, generator=gen, dtype=torch.float64).to(dtype)
              for s in SHAPES]
    init = [tensor_json(p) for p in params]
    params = [torch.nn.Parameter(p) for p in params]
    if c["groups"]:
        groups, k = [], 0
        for count, over in c["groups"]:
            groups.append(dict(over, params=params[k:k + count]))
            k += count
        opt = make_optimizer(c["kind"], groups, c["opts"])
    else:
        opt = make_optimizer(c["kind"], params, c["opts"])
    grads, traj = [], []
    for k in range(STEPS):
        row = []
        for j, p in enumerate(params):
            g = SCALES[k] * torch.randn(p.shape, generator=gen,
                                        dtype=torch.float64)
            if (k, j) in c["skip"]:
                p.grad = None
                row.append(None)
            else:
                p.grad = g.to(dtype)
                row.append(tensor_json(p.grad))
        opt.step()
        grads.append(row)
        traj.append([tensor_json(p) for p in params])
    state = {}
    for j, p in enumerate(params):
        for key, v in opt.state.get(p, {}).items():
            if v is None:
                continue
            if not torch.is_tensor(v):
                v = torch.tensor(float(v))
            state[f"{j}.{key}"] = tensor_json(v)
    out = {"name": c["name"], "optim": c["kind"], "dtype": dtype_name,
           "opts": c["opts"], "params": init, "grads": grads,
           "trajectory": traj, "state": state}
    if c["groups"]:
        # PyTorch's param_groups, every option resolved
        out["groups"] = [{k: (list(v) if k == "betas" else
                              [[id(x) for x in params].index(id(q)) for q in v]
                              if k == "params" else v)
                          for k, v in g.items()
                          if k in ("params", "lr", "weight_decay",
                                   "momentum", "betas")}
                         for g in opt.param_groups]
    return out


# ---- learning-rate schedules ----

SCHED_CASES = [
    dict(name="step-3-0.5", kind="step", base_lr=0.1, step_size=3,
         gamma=0.5, epochs=20),
    dict(name="step-1-0.9", kind="step", base_lr=0.05, step_size=1,
         gamma=0.9, epochs=12),
    dict(name="exponential-0.95", kind="exponential", base_lr=0.1,
         gamma=0.95, epochs=30),
    dict(name="cosine-10", kind="cosine", base_lr=0.1, T_max=10,
         eta_min=0.001, epochs=35),
    dict(name="cosine-7-0", kind="cosine", base_lr=1.0, T_max=7,
         eta_min=0.0, epochs=15),
]


def run_sched(c):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=c["base_lr"])
    S = torch.optim.lr_scheduler
    if c["kind"] == "step":
        s = S.StepLR(opt, step_size=c["step_size"], gamma=c["gamma"])
    elif c["kind"] == "exponential":
        s = S.ExponentialLR(opt, gamma=c["gamma"])
    else:
        s = S.CosineAnnealingLR(opt, T_max=c["T_max"], eta_min=c["eta_min"])
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(c["epochs"]):
        opt.step()
        s.step()
        lrs.append(opt.param_groups[0]["lr"])
    out = {k: v for k, v in c.items() if k != "epochs"}
    out["lrs"] = lrs
    return out


# ---- the schedules of issue 16, over parameter groups ----

# LambdaLR's functions, by name; tests/test_sched.c has the same ones.
LAMBDAS = {
    "warmup5-invsqrt": lambda t: min((t + 1) / 5, (5 / (t + 1)) ** 0.5),
    "decay-0.9": lambda t: 0.9 ** t,
    "inv-1-plus-t": lambda t: 1 / (1 + t),
}

TWO = [0.1, 0.02]  # two groups' base lrs

# Metrics for ReduceLROnPlateau: falls, stalls, wobbles, falls again.
METRICS = [1.0, 0.9, 0.9, 0.95, 0.9, 0.899995, 0.85, 0.85, 0.86, 0.87,
           0.84, 0.84, 0.84, 0.84, 0.5, float("nan"), 0.5, 0.6, 0.7, 0.7]
RISING = [0.1, 0.2, 0.25, 0.26, 0.3, 0.3, 0.35, 0.36, 0.5, 0.55, 0.55,
          0.56, 0.9, 0.9, 0.9, 0.9]


def lrs_case(name, kind, base_lrs, steps, **args):
    return dict(name=name, kind=kind, base_lrs=base_lrs, steps=steps,
                args=args)


LR_CASES = [
    lrs_case("step-groups", "step", TWO, 12, step_size=3, gamma=0.5),
    lrs_case("exponential-groups", "exponential", TWO, 10, gamma=0.8),
    lrs_case("cosine-groups", "cosine", TWO, 25, T_max=10, eta_min=0.001),
    lrs_case("linear-warmup", "linear", TWO, 12, start_factor=0.1,
             end_factor=1.0, total_iters=5),
    lrs_case("linear-defaults", "linear", [0.05], 10,
             start_factor=1.0 / 3, end_factor=1.0, total_iters=5),
    lrs_case("linear-decay-to-0", "linear", TWO, 8, start_factor=1.0,
             end_factor=0.0, total_iters=4),
    lrs_case("linear-1-iter", "linear", [0.3], 4, start_factor=0.5,
             end_factor=1.0, total_iters=1),
    lrs_case("lambda-warmup-invsqrt", "lambda", TWO, 20,
             fns=["warmup5-invsqrt"]),
    lrs_case("lambda-per-group", "lambda", TWO, 15,
             fns=["decay-0.9", "inv-1-plus-t"]),
    lrs_case("onecycle-cos", "onecycle", TWO, 20, max_lr=0.1,
             total_steps=20),
    lrs_case("onecycle-linear", "onecycle", [0.1], 17, max_lr=1.0,
             total_steps=17, pct_start=0.25, anneal_strategy="linear",
             div_factor=10.0, final_div_factor=100.0),
    lrs_case("onecycle-max-lrs", "onecycle", TWO, 10, max_lr=[0.5, 0.05],
             total_steps=10, pct_start=0.4),
    lrs_case("onecycle-short-warmup", "onecycle", [0.1], 10, max_lr=0.2,
             total_steps=10, pct_start=0.05),
    lrs_case("plateau-min-rel", "plateau", TWO, len(METRICS),
             metrics=METRICS, patience=2, factor=0.5),
    lrs_case("plateau-patience-0", "plateau", TWO, len(METRICS),
             metrics=METRICS, patience=0, factor=0.5),
    lrs_case("plateau-cooldown", "plateau", TWO, len(METRICS),
             metrics=METRICS, patience=1, factor=0.3, cooldown=2),
    lrs_case("plateau-max-abs", "plateau", TWO, len(RISING), metrics=RISING,
             mode="max", threshold_mode="abs", threshold=0.02, patience=1,
             factor=0.5),
    lrs_case("plateau-max-rel-min-lr", "plateau", TWO, len(RISING),
             metrics=RISING, mode="max", threshold=0.1, patience=0,
             factor=0.1, min_lr=0.0005),
    lrs_case("plateau-eps", "plateau", [0.001], len(METRICS),
             metrics=METRICS, patience=0, factor=0.5, eps=0.0003),
    lrs_case("sequential-warmup-cosine", "sequential", TWO, 25,
             milestones=[5],
             schedulers=[dict(kind="linear", start_factor=0.01,
                              end_factor=1.0, total_iters=5),
                         dict(kind="cosine", T_max=20, eta_min=0.0)]),
    lrs_case("sequential-three", "sequential", TWO, 16, milestones=[3, 8],
             schedulers=[dict(kind="linear", start_factor=0.5,
                              end_factor=1.0, total_iters=3),
                         dict(kind="step", step_size=2, gamma=0.5),
                         dict(kind="exponential", gamma=0.9)]),
    lrs_case("sequential-milestone-1", "sequential", [0.1], 12,
             milestones=[1],
             schedulers=[dict(kind="linear", start_factor=0.1,
                              end_factor=1.0, total_iters=2),
                         dict(kind="cosine", T_max=10, eta_min=0.01)]),
    lrs_case("sequential-lambda-onecycle", "sequential", [0.1], 14,
             milestones=[4],
             schedulers=[dict(kind="lambda", fns=["inv-1-plus-t"]),
                         dict(kind="onecycle", max_lr=0.3,
                              total_steps=10)]),
]


def make_scheduler(opt, kind, a):
    S = torch.optim.lr_scheduler
    if kind == "step":
        return S.StepLR(opt, step_size=a["step_size"], gamma=a["gamma"])
    if kind == "exponential":
        return S.ExponentialLR(opt, gamma=a["gamma"])
    if kind == "cosine":
        return S.CosineAnnealingLR(opt, T_max=a["T_max"],
                                   eta_min=a["eta_min"])
    if kind == "linear":
        return S.LinearLR(opt, start_factor=a["start_factor"],
                          end_factor=a["end_factor"],
                          total_iters=a["total_iters"])
    if kind == "lambda":
        fns = [LAMBDAS[f] for f in a["fns"]]
        return S.LambdaLR(opt, fns if len(fns) > 1 else fns[0])
    if kind == "onecycle":
        return S.OneCycleLR(opt, max_lr=a["max_lr"],
                            total_steps=a["total_steps"],
                            pct_start=a.get("pct_start", 0.3),
                            anneal_strategy=a.get("anneal_strategy", "cos"),
                            div_factor=a.get("div_factor", 25.0),
                            final_div_factor=a.get("final_div_factor", 1e4),
                            three_phase=False, cycle_momentum=False)
    if kind == "plateau":
        return S.ReduceLROnPlateau(
            opt, mode=a.get("mode", "min"), factor=a.get("factor", 0.1),
            patience=a.get("patience", 10),
            threshold=a.get("threshold", 1e-4),
            threshold_mode=a.get("threshold_mode", "rel"),
            cooldown=a.get("cooldown", 0), min_lr=a.get("min_lr", 0),
            eps=a.get("eps", 1e-8))
    subs = [make_scheduler(opt, d["kind"], d) for d in a["schedulers"]]
    return S.SequentialLR(opt, schedulers=subs, milestones=a["milestones"])


def run_lr_case(c):
    ps = [torch.nn.Parameter(torch.zeros(1)) for _ in c["base_lrs"]]
    opt = torch.optim.SGD([dict(params=[p], lr=lr)
                           for p, lr in zip(ps, c["base_lrs"])], lr=1.0)
    s = make_scheduler(opt, c["kind"], c["args"])
    lrs = [[g["lr"] for g in opt.param_groups]]
    for k in range(c["steps"]):
        opt.step()
        if c["kind"] == "plateau":
            s.step(c["args"]["metrics"][k])
        else:
            s.step()
        lrs.append([g["lr"] for g in opt.param_groups])
    out = dict(c, args=dict(c["args"]))
    if "metrics" in out["args"]:  # JSON has no NaN: null stands for it
        out["args"]["metrics"] = [None if math.isnan(m) else m
                                  for m in out["args"]["metrics"]]
    out["lrs"] = lrs
    return out


# ---- clip_grad_norm_ / clip_grad_value_ ----

CLIP_CASES = [
    dict(name="norm2-active", kind="norm", max_norm=1.0, norm_type=2.0),
    dict(name="norm2-inactive", kind="norm", max_norm=100.0, norm_type=2.0),
    dict(name="norm2-none-grad", kind="norm", max_norm=0.5, norm_type=2.0,
         none=[1]),
    dict(name="norminf-active", kind="norm", max_norm=0.5,
         norm_type=math.inf),
    dict(name="norm1-active", kind="norm", max_norm=2.0, norm_type=1.0),
    dict(name="norm3-active", kind="norm", max_norm=1.0, norm_type=3.0),
    dict(name="value-0.5", kind="value", clip=0.5),
    dict(name="value-none-grad", kind="value", clip=1.0, none=[0]),
]


def run_clip(c, dtype_name):
    dtype = getattr(torch, dtype_name)
    gen = gen_for(c["name"], dtype_name)
    params, grads = [], []
    for j, s in enumerate(SHAPES):
        p = torch.nn.Parameter(torch.zeros(s, dtype=dtype))
        g = 1.5 * torch.randn(s, generator=gen, dtype=torch.float64)
        if j in c.get("none", ()):
            grads.append(None)
        else:
            p.grad = g.to(dtype)
            grads.append(tensor_json(p.grad))
        params.append(p)
    out = {"name": c["name"], "kind": c["kind"], "dtype": dtype_name,
           "grads": grads}
    if c["kind"] == "norm":
        total = torch.nn.utils.clip_grad_norm_(params, c["max_norm"],
                                               c["norm_type"])
        nt = c["norm_type"]
        out.update(max_norm=c["max_norm"],
                   norm_type="inf" if math.isinf(nt) else nt,
                   total_norm=float(total))
    else:
        torch.nn.utils.clip_grad_value_(params, c["clip"])
        out["clip"] = c["clip"]
    out["clipped"] = [None if p.grad is None else tensor_json(p.grad)
                      for p in params]
    return out


def write(name, cases):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump({"generator": "tests/ref/gen_optim_ref.py",
                   "torch": torch.__version__, "cases": cases}, f,
                  separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {len(cases)} cases")


def main():
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    write("optim.json", [run_optim(c, d) for c in OPTIM_CASES
                         for d in DTYPES])
    write("sched.json", [run_sched(c) for c in SCHED_CASES])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's step(0)
        write("lr_scheduler.json", [run_lr_case(c) for c in LR_CASES])
    write("clip.json", [run_clip(c, d) for c in CLIP_CASES for d in DTYPES])


if __name__ == "__main__":
    main()
