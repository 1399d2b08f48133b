package dev.tidemark.engine.postgres;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The password lookup by database id, under the spellings an environment variable can give an id with '-'. */
class CredentialsTest {

    @Test
    void anIdWithADashIsFoundUnderItsEnvironmentSpellings() {
        assertThat(new Credentials(Map.of("shop-eu", "a")).password("shop-eu")).isEqualTo("a");
        assertThat(new Credentials(Map.of("shop.eu", "b")).password("shop-eu")).as("TIDEMARK_PGPASSWORDS_SHOP_EU").isEqualTo("b");
        assertThat(new Credentials(Map.of("shopeu", "c")).password("shop-eu")).as("TIDEMARK_PGPASSWORDS_SHOPEU").isEqualTo("c");
        assertThat(new Credentials(Map.of("shop", "d")).password("shop-eu")).isNull();
    }

    @Test
    void twoKeysThatReadAlikeNameNoOtherIdThanTheirOwn() {
        Credentials both = new Credentials(Map.of("shop-eu", "a", "shopeu", "b"));
        assertThat(both.password("shop-eu")).isEqualTo("a");
        assertThat(both.password("shopeu")).isEqualTo("b");
        assertThat(new Credentials(Map.of("shop.eu", "a", "shopeu", "b")).password("shop-eu")).as("ambiguous").isNull();
    }
}
