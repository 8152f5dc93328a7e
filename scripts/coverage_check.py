"""Check the `coverage` metric of a trained run against an independent classifier.

    python scripts/coverage_check.py RUN [--n 1000] [--k 5] [--seed 0]

Draws n samples from the run and labels them with the CNN the coverage metric uses and with two
classifiers that share nothing with it: a k-nearest-neighbour vote in pixel space over the run's
training images, and an MLP (784-512-10 for MNIST) trained here with another seed. Prints one JSON
object: for each classifier the class histogram, the classes covered, its agreement with the CNN
(on all samples and on those the CNN is confident about) and its accuracy on the held-out split.
"""

from __future__ import annotations

import argparse
import json

import torch

from gentk.api import open_run
from gentk.data import to_float
from gentk_common.classifier import classify, get_classifier
from gentk_common.coverage import class_shares


def knn_labels(train_x: torch.Tensor, train_y: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
    """Majority label of the k nearest training images (Euclidean distance on pixels)."""
    flat_train = train_x.flatten(1)  # (M, D)
    labels = []
    for chunk in x.flatten(1).split(500):  # (n, D)
        nearest = torch.cdist(chunk, flat_train).topk(k, largest=False).indices  # (n, k)
        labels.append(torch.mode(train_y[nearest], dim=1).values)
    return torch.cat(labels)


def train_mlp(x: torch.Tensor, y: torch.Tensor, num_classes: int, steps: int = 1500, seed: int = 1) -> torch.nn.Module:
    """A one-hidden-layer MLP on flattened pixels, trained with Adam on minibatches of 128."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(x[0].numel(), 512), torch.nn.ReLU(),
                              torch.nn.Linear(512, num_classes))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(steps):
        idx = torch.randint(len(x), (128,), generator=g)
        loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def coverage(labels: torch.Tensor, num_classes: int, min_share: float) -> tuple[list[float], int]:
    """The class histogram and the number of classes covered, as the coverage metric counts them."""
    hist, covered = class_shares(labels, num_classes, min_share)
    return [round(float(h), 4) for h in hist], int(covered.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--n", type=int, default=1000, help="samples to draw")
    parser.add_argument("--k", type=int, default=5, help="neighbours in the vote")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--min-share", type=float, default=0.2, help="a class counts when its share >= this / K")
    args = parser.parse_args()

    run = open_run(args.run, device="cpu")
    dataset = run.recipe.data.build()
    info, train, test = dataset.info, dataset.split("train"), dataset.split("test")
    train_x = to_float(train.x, info)
    with torch.no_grad():
        samples = run.sample(args.n, seed=args.seed).float().cpu()  # (n, C, H, W) in [0, 1]

    probs = classify(get_classifier(train, info), samples)
    cnn, confident = probs.argmax(1), probs.max(1).values >= args.confidence
    test_x = to_float(test.x, info)
    mlp = train_mlp(train_x, train.y, info.num_classes)
    independent = {
        "knn": lambda x: knn_labels(train_x, train.y, x, args.k),
        "mlp": lambda x: classify(mlp, x).argmax(1),
    }
    hist, covered = coverage(cnn, info.num_classes, args.min_share)
    report = {"run": str(run.path), "n": args.n, "confident_fraction": round(float(confident.float().mean()), 4),
              "cnn": {"hist": hist, "classes_covered": covered}}
    for name, label in independent.items():
        labels = label(samples)
        hist, covered = coverage(labels, info.num_classes, args.min_share)
        agree = cnn == labels
        report[name] = {
            "hist": hist, "classes_covered": covered,
            "agreement": round(float(agree.float().mean()), 4),
            "agreement_confident": round(float(agree[confident].float().mean()), 4) if confident.any() else None,
            "test_accuracy": round(float((label(test_x) == test.y).float().mean()), 4),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
