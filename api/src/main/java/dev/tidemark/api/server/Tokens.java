package dev.tidemark.api.server;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The API's bearer tokens, known only by their SHA-256. Scopes: admin (everything), operator (its databases), read
 * (GET only). With no token configured, the first start generates an admin token into the data directory (mode 0600),
 * where the CLI on the same machine finds it.
 */
public final class Tokens {
    private static final Logger LOG = LoggerFactory.getLogger(Tokens.class);
    public static final String ADMIN_TOKEN_FILE = "admin.token";
    private static final Set<String> SCOPES = Set.of("admin", "operator", "read");

    /** A known token. databases: for an operator, the databases it may act on. */
    public record Token(String name, String sha256, String scope, List<String> databases) {
        public boolean mayRead(String databaseId) {
            return !"operator".equals(scope) || databaseId == null || databases.contains(databaseId);
        }

        public boolean mayChange(String databaseId) {
            return switch (scope) {
                case "admin" -> true;
                case "operator" -> databaseId != null && databases.contains(databaseId);
                default -> false;
            };
        }
    }

    private final List<Token> tokens;

    public Tokens(List<Token> tokens) {
        this.tokens = List.copyOf(tokens);
    }

    /**
     * Null when a token of this scope may list these databases; otherwise why not: the scope is unknown, an operator token
     * lists none (it could do nothing), or another scope lists some (only operator tokens are limited to databases).
     */
    public static String scopeProblem(String scope, List<String> databases) {
        boolean listsDatabases = databases != null && !databases.isEmpty();
        if (!SCOPES.contains(scope)) {
            return "the scope is '" + scope + "': use admin, operator or read";
        }
        if ("operator".equals(scope) && !listsDatabases) {
            return "an operator token with no databases could do nothing: name at least one it may act on";
        }
        if (!"operator".equals(scope) && listsDatabases) {
            return "only operator tokens are limited to databases (a " + scope + " token reaches every database): list none,"
                    + " or make it an operator token";
        }
        return null;
    }

    public static Tokens from(TidemarkProperties properties) {
        List<Token> tokens = new ArrayList<>();
        for (TidemarkProperties.Token t : properties.getTokens()) {
            if (t.getName() == null || t.getSha256() == null || !t.getSha256().matches("[0-9a-fA-F]{64}")) {
                throw new IllegalArgumentException("tidemark.tokens: every token needs a name and the sha256 (64 hex digits) of its secret; "
                        + "create one with 'tidemark token create NAME --scope SCOPE'");
            }
            String problem = scopeProblem(t.getScope(), t.getDatabases());
            if (problem != null) {
                throw new IllegalArgumentException("token " + t.getName() + ": " + problem);
            }
            tokens.add(new Token(t.getName(), t.getSha256().toLowerCase(), t.getScope(), List.copyOf(t.getDatabases())));
        }
        if (tokens.isEmpty()) {
            String secret = adminToken(properties.getDataDirectory());
            tokens.add(new Token("admin", sha256(secret), "admin", List.of()));
        }
        return new Tokens(tokens);
    }

    /** Reads the generated admin token, creating it (mode 0600) on the first start. */
    static String adminToken(Path dataDirectory) {
        Path file = dataDirectory.toAbsolutePath().resolve(ADMIN_TOKEN_FILE);
        try {
            if (Files.exists(file)) {
                return Files.readString(file, StandardCharsets.US_ASCII).trim();
            }
            Files.createDirectories(dataDirectory);
            String secret = generate();
            try {
                Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } catch (UnsupportedOperationException e) {
                Files.createFile(file);
            }
            Files.writeString(file, secret + "\n", StandardCharsets.US_ASCII);
            LOG.info("no API token configured: generated an admin token in {} (mode 0600); the tidemark CLI on this machine uses it", file);
            return secret;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the admin token file " + file + ": " + e.getMessage(), e);
        }
    }

    public static String generate() {
        byte[] bytes = new byte[32];
        new SecureRandom().nextBytes(bytes);
        return "tdm_" + Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }

    public static String sha256(String secret) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The token whose secret this is, compared by hash in constant time. */
    public Optional<Token> find(String secret) {
        byte[] hash = sha256(secret).getBytes(StandardCharsets.US_ASCII);
        Token found = null;
        for (Token t : tokens) {
            if (MessageDigest.isEqual(hash, t.sha256().getBytes(StandardCharsets.US_ASCII))) {
                found = t;
            }
        }
        return Optional.ofNullable(found);
    }
}
