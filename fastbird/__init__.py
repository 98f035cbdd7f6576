"""A course companion for fast.ai's Practical Deep Learning, Lesson 1: is it a bird?"""

__version__ = "0.1.0"
