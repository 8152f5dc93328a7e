"""Bundled plugin: datasets (MNIST, Fashion-MNIST, CIFAR-10, image folders, 2-D toy data)."""
