# "Tensors": creation, attributes, indexing and in-place assignment, joining, arithmetic, the
# numpy bridge. Then a tiny regression trained with `w.data` and `w.grad.data` updates.
import numpy as np
import torch

data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
np_array = np.array(data)
x_np = torch.from_numpy(np_array)
x_ones = torch.ones_like(x_data)
print(f"Ones Tensor: \n {x_ones} \n")
x_rand = torch.rand_like(x_data, dtype=torch.float)
print(f"Random Tensor: \n {x_rand} \n")

shape = (2, 3,)
rand_tensor = torch.rand(shape)
ones_tensor = torch.ones(shape)
zeros_tensor = torch.zeros(shape)

tensor = torch.rand(3, 4)
print(f"Shape of tensor: {tensor.shape}")
print(f"Datatype of tensor: {tensor.dtype}")
print(f"Device tensor is stored on: {tensor.device}")
if torch.accelerator.is_available():
    tensor = tensor.to(torch.accelerator.current_accelerator())

tensor = torch.ones(4, 4)
print(f"First row: {tensor[0]}")
print(f"First column: {tensor[:, 0]}")
print(f"Last column: {tensor[..., -1]}")
tensor[:, 1] = 0
print(tensor)
assert tensor[:, 1].sum().item() == 0

t1 = torch.cat([tensor, tensor, tensor], dim=1)
print(t1)
y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
y3 = torch.rand_like(y1)
z1 = tensor * tensor
z2 = tensor.mul(tensor)
agg = tensor.sum()
agg_item = agg.item()
print(agg_item, type(agg_item))
print(f"{tensor} \n")
tensor.add_(5)
print(tensor)

t = torch.ones(5)
n = t.numpy()
t.add_(1)
assert n[0] == 2.0
n = np.ones(5)
t = torch.from_numpy(n)
np.add(n, 1, out=n)
assert t[0].item() == 2.0

# Old-style training through .data (as older tutorials do).
torch.manual_seed(0)
X = torch.randn(100, 3)
true_w = torch.tensor([[1.5], [-2.0], [0.5]])
Y = X @ true_w + 0.1 * torch.randn(100, 1)
w = torch.zeros(3, 1, requires_grad=True)
losses = []
for step in range(100):
    loss = ((X @ w - Y) ** 2).mean()
    losses.append(loss.item())
    loss.backward()
    w.data.add_(-0.1 * w.grad.data)
    w.grad.data.zero_()
print(w.view(-1))
