# "Datasets & DataLoaders" and "Build the Neural Network" patterns: a map-style Dataset returning
# dicts, random_split, a custom collate_fn, Subset, DataLoader keywords (num_workers,
# pin_memory), a module built with nn.ModuleList, softmax and argmax predictions.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset, random_split


class Spirals(Dataset):
    def __init__(self, n=600, transform=None):
        rng = np.random.default_rng(0)
        k = rng.integers(0, 3, n)
        r = rng.random(n)
        t = 4 * k + 4 * r + rng.normal(0, 0.2, n)
        self.x = np.stack([r * np.sin(t), r * np.cos(t)], 1).astype(np.float32)
        self.y = k
        self.transform = transform

    def __len__(self):
        return len(self.y)

    def __getitem__(self, idx):
        sample = {"features": torch.tensor(self.x[idx]), "label": int(self.y[idx])}
        if self.transform:
            sample = self.transform(sample)
        return sample


def collate(batch):
    xs = torch.stack([b["features"] for b in batch])
    ys = torch.tensor([b["label"] for b in batch])
    return xs, ys


class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


torch.manual_seed(0)
full = Spirals()
train_set, val_set = random_split(full, [500, 100])
small = Subset(full, range(32))
print(len(train_set), len(val_set), len(small), full[0]["features"].shape)

train_loader = DataLoader(train_set, batch_size=50, shuffle=True, collate_fn=collate,
                          num_workers=0, pin_memory=False)
val_loader = DataLoader(val_set, batch_size=100, collate_fn=collate)
dict_loader = DataLoader(small, batch_size=8)
batch = next(iter(dict_loader))
print(batch["features"].shape, batch["label"])

model = MLP([2, 64, 64, 3])
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
losses = []
for epoch in range(30):
    model.train()
    for xb, yb in train_loader:
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        xv, yv = next(iter(val_loader))
        probs = F.softmax(model(xv), dim=1)
        acc = (probs.argmax(dim=1) == yv).float().mean()
    if epoch % 10 == 9:
        print(f"epoch {epoch + 1}: loss {losses[-1]:.4f}, val acc {acc:.3f}")
