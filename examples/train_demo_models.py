"""Train the demo models shipped in ``forgrad_viz/assets`` on the procedural shapes set, on the CPU.

Each model is trained from a fixed seed on ``shapes_dataset(n_train, seed=train_seed)`` with Adam and a cosine
learning-rate schedule, then evaluated on images of a seed never used in training. For every model the script
writes ``<name>.pt`` (the float32 state dict, loadable with ``torch.load(weights_only=True)``), ``<name>.json``
(the model card as data) and ``<name>.md`` (the model card as text) to ``--out``.

Usage::

    python examples/train_demo_models.py                       # all demo models, the shipped settings
    python examples/train_demo_models.py --models maxpool_cnn --epochs 1 --n-train 256 --out /tmp/demo
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch import nn

from forgrad_viz.data import SHAPES, shapes_dataset
from forgrad_viz.models import ASSETS_DIR, DEMO_MODELS, build_demo_model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=ASSETS_DIR, help="output folder (default: the package assets)"
    )
    parser.add_argument("--models", nargs="+", default=list(DEMO_MODELS), choices=list(DEMO_MODELS))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--n-train", type=int, default=6000, help="number of training images")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the training set, the init and the batches"
    )
    parser.add_argument("--eval-seed", type=int, default=12345, help="seed of the held-out evaluation set")
    parser.add_argument("--n-eval", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 reproduces the shipped weights)"
    )
    return parser.parse_args(argv)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` in eval mode."""
    model.eval()
    with torch.inference_mode():
        predictions = torch.cat(
            [model(images[i : i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)]
        )
    return float((predictions == labels).float().mean())


def train(name: str, train_set, args: argparse.Namespace) -> tuple[nn.Module, dict]:
    """Train one architecture; returns the model (eval mode) and training statistics."""
    torch.manual_seed(args.seed)
    model = build_demo_model(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = -(-len(train_set) // args.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(args.seed)
    images, labels = train_set.images, train_set.labels
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    losses = []
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(labels), generator=generator)
        total = 0.0
        for i in range(0, len(order), args.batch_size):
            batch = order[i : i + args.batch_size]
            x = images[batch]
            flips = torch.rand(2, len(batch), generator=generator) < 0.5  # shapes are flip-invariant
            x = torch.where(flips[0, :, None, None, None], x.flip(-1), x)
            x = torch.where(flips[1, :, None, None, None], x.flip(-2), x)
            loss = nn.functional.cross_entropy(model(x), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
        losses.append(total / len(labels))
        print(f"  {name} epoch {epoch + 1}/{args.epochs}: loss {losses[-1]:.4f}", flush=True)
    stats = {
        "train_loss_per_epoch": [round(value, 4) for value in losses],
        "train_seconds_wall": round(time.perf_counter() - start_wall, 1),
        "train_seconds_cpu": round(time.process_time() - start_cpu, 1),
    }
    return model.eval(), stats


def model_card_markdown(card: dict) -> str:
    """The model card as Markdown text."""
    return "\n".join(
        [
            f"# Demo model `{card['name']}`",
            "",
            f"- Architecture: {card['architecture']}",
            f"- Parameters: {card['parameters']:,}; weights file: {card['file_bytes']:,} bytes (float32 state dict)",
            f"- Input: {card['input']}; output: logits over {', '.join(card['classes'])}",
            f"- Training set: `shapes_dataset({card['train_n']}, size=64, seed={card['train_seed']})`, random "
            "horizontal/vertical flips",
            f"- Training: seed {card['seed']}, Adam lr {card['lr']} with cosine decay, batch {card['batch_size']}, "
            f"{card['epochs']} epochs, {card['threads']} CPU thread(s), {card['train_seconds_wall']} s wall "
            f"({card['train_seconds_cpu']} s CPU); final training loss {card['train_loss_per_epoch'][-1]}",
            f"- Evaluation: accuracy **{card['eval_accuracy']:.4f}** on `shapes_dataset({card['eval_n']}, size=64, "
            f"seed={card['eval_seed']})` (a seed never used in training)",
            f"- Reproduce: `{card['command']}` (torch {card['torch']})",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    train_set = shapes_dataset(args.n_train, size=64, seed=args.seed)
    eval_set = shapes_dataset(args.n_eval, size=64, seed=args.eval_seed)
    for name in args.models:
        print(f"training {name}", flush=True)
        model, stats = train(name, train_set, args)
        weights_path = args.out / f"{name}.pt"
        torch.save({key: value.float() for key, value in model.state_dict().items()}, weights_path)
        card = {
            "name": name,
            "architecture": DEMO_MODELS[name],
            "parameters": sum(p.numel() for p in model.parameters()),
            "file_bytes": weights_path.stat().st_size,
            "input": "(N, 3, 64, 64) float RGB in [0, 1]",
            "classes": list(SHAPES),
            "seed": args.seed,
            "train_seed": args.seed,
            "train_n": args.n_train,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "threads": args.threads,
            **stats,
            "eval_seed": args.eval_seed,
            "eval_n": args.n_eval,
            "eval_accuracy": round(accuracy(model, eval_set.images, eval_set.labels), 4),
            "torch": torch.__version__,
            "machine": platform.machine(),
            "command": f"python examples/train_demo_models.py --models {name} --epochs {args.epochs} "
            f"--n-train {args.n_train} --batch-size {args.batch_size} --lr {args.lr} --seed {args.seed} "
            f"--eval-seed {args.eval_seed} --n-eval {args.n_eval} --threads {args.threads}",
        }
        (args.out / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
        (args.out / f"{name}.md").write_text(model_card_markdown(card))
        print(
            f"{name}: eval accuracy {card['eval_accuracy']:.4f}, {stats['train_seconds_wall']} s", flush=True
        )


if __name__ == "__main__":
    main()
