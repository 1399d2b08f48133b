package dev.tidemark.api.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tidemark.engine.Engine;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.scheduling.annotation.EnableScheduling;

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

    @Bean
    Tokens tokens(TidemarkProperties properties) {
        return Tokens.from(properties);
    }

    @Bean
    FilterRegistrationBean<AuthFilter> authFilter(Tokens tokens, ObjectMapper json) {
        FilterRegistrationBean<AuthFilter> bean = new FilterRegistrationBean<>(new AuthFilter(tokens, json));
        bean.setOrder(-100);
        return bean;
    }
}
