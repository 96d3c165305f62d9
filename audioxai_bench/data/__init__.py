"""AudioMNIST data: the original layout, the offline synthetic stand-in, splits, preprocessing."""
