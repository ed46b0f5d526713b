"""The stack wing: everything fkguard knows about a Pulumi stack and where it lives.

settings (postgresql:* connection settings), options (fkguard:* settings), config (both, read once for
the program, the providers and the commands), context (a stack's catalog, debt and project folder), secrets
(passphrases), state and backend (reading a stack's state), identity (the database a stack is bound to),
guard (the pulumi CLI's version), init (a new stack), pulumi_sdk (the one module reaching into the Pulumi
SDK's private parts)."""
