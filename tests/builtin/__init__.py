"""Tests of the built-in metric plugins whose definitions changed with issue 10."""
