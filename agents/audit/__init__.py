"""The audit stream: one emitter, the hash chain, its verifier and the compliance commands."""

from agents.audit.emitter import AuditEmitter

__all__ = ["AuditEmitter"]
