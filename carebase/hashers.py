"""Password hashing: Argon2id at OWASP's recommended minimum (19 MiB of memory, 2 passes, 1 lane).

Django's default PBKDF2 (1,000,000 SHA-256 rounds) costs about 0.4-1 s of CPU per sign-in on a 2-core machine, so a
ward signing in at once queued for seconds; Argon2id at these settings costs about a tenth of that while a GPU or
ASIC attacker pays for the memory. Passwords hashed before are upgraded at their next sign-in.
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idPasswordHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
