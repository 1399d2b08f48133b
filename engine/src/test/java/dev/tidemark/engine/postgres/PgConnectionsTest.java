package dev.tidemark.engine.postgres;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Parsing the PostgreSQL URLs operators give: nothing that may be a password reaches the catalog or an error message. */
class PgConnectionsTest {

    @Test
    void parsesAndNormalises() {
        PgConnections c = PgConnections.parse("postgres://tidemark@db.example:5433/shop", null);
        assertThat(c.url()).isEqualTo("postgresql://tidemark@db.example:5433/shop");
        assertThat(PgConnections.parse("postgresql://10.0.0.1", null).url()).isEqualTo("postgresql://postgres@10.0.0.1:5432/postgres");
    }

    @Test
    void refusesPasswordsAndParametersWithoutEchoingThem() {
        assertThatThrownBy(() -> PgConnections.parse("postgresql://u:s3cret@h/db", null))
                .hasMessageContaining("must not contain a password").hasMessageNotContaining("s3cret");
        assertThatThrownBy(() -> PgConnections.parse("postgresql://u@h/db?password=s3cret", null))
                .hasMessageContaining("must not carry parameters").hasMessageNotContaining("s3cret");
        // a password URI syntax cannot even parse: the message names the problem, not the password
        assertThatThrownBy(() -> PgConnections.parse("postgresql://u:s3c ret%@h/db", null))
                .hasMessageContaining("invalid PostgreSQL URL").hasMessageNotContaining("s3c ret");
    }

    @Test
    void redactsUserInfoAndParameters() {
        assertThat(PgConnections.redact("jdbc:postgresql://cat:pw@host:5432/catalog?password=x&ssl=true"))
                .isEqualTo("jdbc:postgresql://***@host:5432/catalog?***");
        assertThat(PgConnections.redact("jdbc:postgresql://host/catalog")).isEqualTo("jdbc:postgresql://host/catalog");
    }
}
