/**
 * The repository's master keys: the key record that says which key the repository needs (and, during a rotation, which
 * keys it rotates from), and the rotation that wraps every object's data key anew under a new master key.
 */
package dev.tidemark.storage.keys;
