package dev.tidemark.api.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tidemark.engine.Engine;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.actuate.health.Health;
import org.springframework.boot.actuate.health.HealthIndicator;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.web.embedded.tomcat.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.core.Ordered;
import org.springframework.scheduling.annotation.EnableScheduling;
import org.springframework.web.servlet.config.annotation.InterceptorRegistry;
import org.springframework.web.servlet.config.annotation.WebMvcConfigurer;

/** The tidemark server: the engine, the REST API, metrics and health, in one Spring Boot application. */
@SpringBootApplication
@EnableScheduling
@EnableConfigurationProperties(TidemarkProperties.class)
public class ServerApplication {

    /** Starts the server; args are Spring Boot arguments (e.g. --spring.config.additional-location=file:tidemark.yml). */
    public static ConfigurableApplicationContext run(String... args) {
        SpringApplication app = new SpringApplication(ServerApplication.class);
        app.setBannerMode(org.springframework.boot.Banner.Mode.OFF);
        return app.run(args);
    }

    @Bean(destroyMethod = "close")
    Engine engine(TidemarkProperties properties) {
        return Engine.start(properties.toEngineConfig());
    }

    /** Down once the engines of another catalog took the repository over: this engine then writes nothing more. */
    @Bean
    HealthIndicator repositoryWriter(Engine engine) {
        return () -> engine.takenOver().map(why -> Health.down().withDetail("reason", why).build()).orElseGet(() -> Health.up().build());
    }

    @Bean
    Tokens tokens(TidemarkProperties properties) {
        return Tokens.from(properties);
    }

    /**
     * An encoded slash in a path ({@code /v1/databases/a%2Fb}) reaches the API's filter, which refuses it (paths are
     * plain, {@link RequestPath}); what Tomcat still refuses itself (an encoded NUL, a path escaping the root) is
     * answered as a problem too, not as Tomcat's HTML page.
     */
    /**
     * The listening port in use is said before the engine starts: the engine would otherwise start first (and may take its
     * repository over) only for the server to fail with Tomcat's own words.
     */
    @Bean
    WebServerFactoryCustomizer<TomcatServletWebServerFactory> portFree() {
        return factory -> {
            if (factory.getPort() <= 0) {
                return;
            }
            try (java.net.ServerSocket socket = new java.net.ServerSocket()) {
                socket.setReuseAddress(true);
                socket.bind(new java.net.InetSocketAddress(factory.getAddress(), factory.getPort()));
            } catch (java.io.IOException e) {
                throw new IllegalStateException("port " + factory.getPort() + (factory.getAddress() == null ? ""
                        : " on " + factory.getAddress().getHostAddress()) + " is in use (" + e.getMessage() + "): another program"
                        + " listens there; stop it, or give this server another port (server.port); nothing was started");
            }
        };
    }

    @Bean
    WebServerFactoryCustomizer<TomcatServletWebServerFactory> encodedSlashes() {
        return factory -> {
            factory.addConnectorCustomizers(connector -> connector.setEncodedSolidusHandling("passthrough"));
            factory.addContextCustomizers(context -> {
                if (context.getParent() instanceof org.apache.catalina.core.StandardHost host) {
                    host.setErrorReportValveClass(ProblemErrorValve.class.getName());
                }
            });
        };
    }

    /**
     * Each field takes its own JSON type: a number or true/false where a string goes is an error ("field 'id' must be a
     * string"), not turned into text; so are "40101" for a port, "true" for a flag, and a number of seconds for a time.
     */
    @Bean
    org.springframework.boot.autoconfigure.jackson.Jackson2ObjectMapperBuilderCustomizer noScalarsAsText() {
        return builder -> builder.featuresToDisable(com.fasterxml.jackson.databind.MapperFeature.ALLOW_COERCION_OF_SCALARS)
                .deserializerByType(java.time.OffsetDateTime.class, new StrictTime())
                .postConfigurer(mapper -> mapper.coercionConfigFor(com.fasterxml.jackson.databind.type.LogicalType.Textual)
                .setCoercion(com.fasterxml.jackson.databind.cfg.CoercionInputShape.Integer, com.fasterxml.jackson.databind.cfg.CoercionAction.Fail)
                .setCoercion(com.fasterxml.jackson.databind.cfg.CoercionInputShape.Float, com.fasterxml.jackson.databind.cfg.CoercionAction.Fail)
                .setCoercion(com.fasterxml.jackson.databind.cfg.CoercionInputShape.Boolean, com.fasterxml.jackson.databind.cfg.CoercionAction.Fail));
    }

    /** A time is an ISO-8601 string with an offset, as documented; a bare number (epoch seconds to Jackson) is refused. */
    static final class StrictTime extends com.fasterxml.jackson.databind.deser.std.StdDeserializer<java.time.OffsetDateTime> {
        StrictTime() {
            super(java.time.OffsetDateTime.class);
        }

        @Override
        public java.time.OffsetDateTime deserialize(com.fasterxml.jackson.core.JsonParser p,
                                                    com.fasterxml.jackson.databind.DeserializationContext context) throws java.io.IOException {
            if (!p.hasToken(com.fasterxml.jackson.core.JsonToken.VALUE_STRING)) {
                return (java.time.OffsetDateTime) context.handleUnexpectedToken(java.time.OffsetDateTime.class, p);
            }
            if (p.getText().trim().matches("[-+]?[0-9]+(\\.[0-9]*)?")) { // Jackson would read "1764000000" as epoch seconds
                return (java.time.OffsetDateTime) context.handleWeirdStringValue(java.time.OffsetDateTime.class, p.getText(),
                        "a number of seconds is not a time");
            }
            return com.fasterxml.jackson.datatype.jsr310.deser.InstantDeserializer.OFFSET_DATE_TIME.deserialize(p, context);
        }
    }

    @Bean
    FilterRegistrationBean<AuthFilter> authFilter(Tokens tokens, TidemarkProperties properties, ObjectMapper json,
                                                  @Value("${server.address:}") String listenAddress) {
        AllowedHosts hosts = AllowedHosts.of(listenAddress, properties.getAllowedHosts());
        FilterRegistrationBean<AuthFilter> bean = new FilterRegistrationBean<>(new AuthFilter(tokens, hosts, json));
        bean.setOrder(Ordered.HIGHEST_PRECEDENCE);
        return bean;
    }

    /** The scope check after routing, on the handler's own {id}; no answer from an engine whose repository was taken over. */
    @Bean
    WebMvcConfigurer scopeCheck(Engine engine) {
        return new WebMvcConfigurer() {
            @Override
            public void addInterceptors(InterceptorRegistry registry) {
                registry.addInterceptor(new ScopeInterceptor());
                registry.addInterceptor(new TakenOverRefusal(engine::takenOver)).addPathPatterns("/v1/**")
                        .excludePathPatterns("/v1/openapi", "/v1/openapi.yaml");
            }
        };
    }
}
