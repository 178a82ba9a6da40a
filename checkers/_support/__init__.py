"""Probes and evaluators shared by lab checkers (SQS reads, policy evaluation, ...)."""
