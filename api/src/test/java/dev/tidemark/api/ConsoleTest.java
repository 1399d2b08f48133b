package dev.tidemark.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tidemark.api.server.ServerApplication;
import dev.tidemark.api.server.Tokens;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.TableChecksums;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The web console in a real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium) against a
 * running server with two PostgreSQL clusters: sign-in, the fleet, a base backup and a dump started from the page, a
 * restore to a time chosen in the form compared with the source, a time outside the window refused before sending,
 * and a read token that sees no actions and whose attempts the API refuses. Takes the screenshots of docs/console.md.
 */
@SpringBootTest(classes = ServerApplication.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConsoleTest {
    static final String ADMIN = "tdm_admin-secret-for-console";
    static final String READER = "tdm_reader-secret-for-console";
    static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newHttpClient();
    static final DateTimeFormatter PICKER = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss").withZone(ZoneOffset.UTC);
    static Path tmp;
    static Path profile;
    static Path downloads;
    static PostgresCluster shop;
    static PostgresCluster blog;
    static ChromeDriver browser;

    @LocalServerPort
    int port;

    @BeforeAll
    static void startBrowser() throws Exception {
        assumeTrue(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER),
                "ConsoleTest skipped: no " + CHROMIUM + " or " + CHROMEDRIVER + " (apt-get install chromium chromium-driver)");
        profile = Files.createTempDirectory("tidemark-chromium-");
        downloads = Files.createDirectories(profile.resolve("downloads"));
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--user-data-dir=" + profile.resolve("profile"), "--window-size=1400,1000");
        options.setCapability("goog:loggingPrefs", Map.of("browser", "ALL"));
        options.setExperimentalOption("prefs", Map.of("download.default_directory", downloads.toString(),
                "download.prompt_for_download", false));
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort().build();
        browser = new ChromeDriver(service, options);
    }

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) throws Exception {
        tmp = Files.createTempDirectory("tidemark-console-");
        ServerUser.detect().ownOne(tmp);
        shop = PostgresCluster.start();
        blog = PostgresCluster.start();
        registry.add("tidemark.data-directory", () -> tmp.resolve("data").toString());
        registry.add("tidemark.scheduler.enabled", () -> "false");
        registry.add("tidemark.wal-partial-interval", () -> "PT0.5S");
        registry.add("tidemark.tokens[0].name", () -> "ops-admin");
        registry.add("tidemark.tokens[0].scope", () -> "admin");
        registry.add("tidemark.tokens[0].sha256", () -> Tokens.sha256(ADMIN));
        registry.add("tidemark.tokens[1].name", () -> "dashboard");
        registry.add("tidemark.tokens[1].scope", () -> "read");
        registry.add("tidemark.tokens[1].sha256", () -> Tokens.sha256(READER));
    }

    @AfterAll
    static void stopEverything() {
        if (browser != null) {
            browser.quit(); // ends chromedriver and the browser it started
        }
        for (PostgresCluster cluster : new PostgresCluster[]{shop, blog}) {
            if (cluster != null) {
                cluster.close();
            }
        }
        if (tmp != null) {
            PostgresCluster.deleteTree(tmp);
        }
        if (profile != null) {
            PostgresCluster.deleteTree(profile);
        }
    }

    @Test
    @Order(1)
    void aWrongTokenIsToldSoAndNothingElseIsShown() throws Exception {
        register("shop", shop);
        register("blog", blog);
        open("/");
        signIn("tdm_not-a-token");
        WebElement error = await(d -> visible(By.id("login-error")));
        await(d -> !error.getText().isEmpty());
        assertThat(error.getText()).contains("not known to the server");
        assertThat(browser.findElements(By.id("fleet"))).isEmpty();
        assertThat(script("return sessionStorage.getItem('tidemark.token')")).as("a refused token is not kept").isNull();
    }

    @Test
    @Order(2)
    void aBaseBackupAndADumpStartedFromThePageCompleteAndAppear() throws Exception {
        signIn(ADMIN);
        await(d -> visible(By.cssSelector("#fleet tr[data-database=shop] a")));
        assertThat(script("return document.cookie")).as("no cookie holds the token").isEqualTo("");
        assertThat(browser.getCurrentUrl()).doesNotContain(ADMIN);
        click(By.cssSelector("#fleet tr[data-database=shop] a"));
        WebElement backupButton = await(d -> visible(By.id("action-base-backup")));
        backupButton.click();
        await(Duration.ofMinutes(2), d -> "completed".equals(attribute(By.id("base-backup-progress"), "data-status")));
        String backupId = apiJson("GET", "/v1/databases/shop/base-backups", ADMIN).get(0).path("id").asText();
        await(d -> browser.findElement(By.cssSelector("#base-backups tr[data-backup='" + backupId + "']")).getText().contains("completed"));

        browser.findElement(By.id("action-dump")).click();
        await(Duration.ofMinutes(2), d -> "completed".equals(attribute(By.id("dump-progress"), "data-status")));
        WebElement download = await(d -> visible(By.cssSelector("#dumps button.download")));
        download.click();
        Path saved = await(d -> {
            try (Stream<Path> files = Files.list(downloads)) {
                return files.filter(p -> p.toString().endsWith(".dump")).findFirst().orElse(null);
            } catch (Exception e) {
                return null;
            }
        });
        assertThat(new String(Files.readAllBytes(saved), 0, 5, StandardCharsets.US_ASCII)).as("a pg_dump archive").isEqualTo("PGDMP");
    }

    @Test
    @Order(3)
    void theFleetListsBothDatabasesWithTheirWindows() throws Exception {
        String blogBackup = apiJson("POST", "/v1/databases/blog/base-backups", ADMIN).path("id").asText();
        await(Duration.ofMinutes(2), d -> status("/v1/databases/blog/base-backups/" + blogBackup).equals("completed"));
        open("/#/");
        for (String id : List.of("shop", "blog")) {
            await(Duration.ofSeconds(30), d -> browser.findElement(By.cssSelector("#fleet tr[data-database=" + id + "] td.window")).getText().contains("→"));
        }
        click(By.cssSelector("[data-sort=id]"));
        await(d -> browser.findElements(By.cssSelector("#fleet tbody tr")).get(0).getAttribute("data-database").equals("blog"));
        WebElement filter = browser.findElement(By.id("fleet-filter"));
        filter.sendKeys("sho");
        await(d -> browser.findElements(By.cssSelector("#fleet tbody tr[data-database]")).size() == 1);
        browser.executeScript("const f = document.getElementById('fleet-filter'); f.value = ''; f.dispatchEvent(new Event('input'))");
        await(d -> browser.findElements(By.cssSelector("#fleet tbody tr[data-database]")).size() == 2);
        screenshot("fleet.png", 700);
    }

    @Test
    @Order(4)
    void aRestoreToATimeChosenInTheFormHoldsTheDataOfThatTime() throws Exception {
        shop.execute("create table orders(id serial primary key, item text)", "insert into orders(item) values ('first'), ('second')");
        Instant moment = shop.serverNow();
        Map<String, String> atMoment = TableChecksums.of(shop);
        Thread.sleep(1500);
        shop.execute("insert into orders(item) values ('after the moment')", "delete from orders where item = 'first'");
        Instant target = moment.truncatedTo(ChronoUnit.SECONDS).plusSeconds(1); // after the moment, before the changes
        await(Duration.ofSeconds(30), d -> Instant.parse(apiJson("GET", "/v1/databases/shop/window", ADMIN).path("end").asText())
                .isAfter(target.plusSeconds(1)));

        open("/#/databases/shop");
        await(d -> visible(By.id("restore-form")));
        await(d -> !browser.findElement(By.id("restore-time")).getAttribute("max").isEmpty());
        Path into = tmp.resolve("restored-shop");
        int copyPort = PostgresCluster.freePort();
        browser.findElement(By.id("restore-dir")).sendKeys(into.toString());
        browser.findElement(By.id("restore-port")).sendKeys(Integer.toString(copyPort));

        int restoresBefore = apiJson("GET", "/v1/databases/shop/restores", ADMIN).size();
        chooseTime("2020-01-01T00:00:00");
        browser.findElement(By.id("restore-submit")).click();
        WebElement error = browser.findElement(By.id("restore-error"));
        await(d -> !error.getText().isEmpty());
        assertThat(error.getText()).contains("2020-01-01 00:00:00 UTC is outside the recovery window [", "Not sent");
        assertThat(browser.findElement(By.id("restore-time")).getAttribute("aria-invalid")).isEqualTo("true");
        assertThat(apiJson("GET", "/v1/databases/shop/restores", ADMIN).size()).as("nothing was sent").isEqualTo(restoresBefore);

        chooseTime(PICKER.format(target));
        browser.findElement(By.id("restore-submit")).click();
        await(Duration.ofMinutes(3), d -> String.valueOf(attribute(By.id("restore-progress"), "data-status")).matches("completed|failed"));
        assertThat(browser.findElement(By.id("restore-progress")).getText()).contains("completed");
        assertThat(attribute(By.id("restore-progress"), "data-status")).isEqualTo("completed");
        PostgresCluster copy = PostgresCluster.attach(PgServer.factory(shop.server().binaries(), ServerUser.detect()).at(into), copyPort);
        try {
            assertThat(TableChecksums.of(copy)).isEqualTo(atMoment);
        } finally {
            copy.stopServer();
        }
        await(d -> browser.findElements(By.cssSelector("#timeline .mark.restore")).size() == 1);
        click(By.cssSelector("#timeline .mark.base"));
        screenshot("database.png", 1900);
    }

    @Test
    @Order(5)
    void aReadTokenSeesNoActionsAndItsAttemptsAreRefused() throws Exception {
        browser.manage().window().setSize(new Dimension(1400, 1000));
        open("/#/");
        browser.findElement(By.id("logout")).click();
        signIn(READER);
        await(d -> visible(By.cssSelector("#fleet tr[data-database=blog] a")));
        click(By.cssSelector("#fleet tr[data-database=blog] a"));
        await(d -> "false".equals(attribute(By.id("capability"), "data-may-change")));
        await(d -> visible(By.cssSelector("#base-backups button.download")));
        assertThat(browser.findElement(By.id("read-only")).getText()).contains("can read and download");
        assertThat(browser.findElements(By.cssSelector("#action-base-backup, #action-dump, #restore-form"))).isEmpty();

        Object answer = browser.executeAsyncScript("const done = arguments[arguments.length - 1];"
                + "fetch('/v1/databases/blog/base-backups', {method: 'POST', headers: {Authorization: 'Bearer ' + sessionStorage.getItem('tidemark.token')}})"
                + ".then(r => r.json().then(p => done(r.status + ' ' + p.detail)))");
        assertThat(answer.toString()).startsWith("403").contains("dashboard");
        // the page's question "may I change this database?" (OPTIONS, which changes nothing) and its answers
        assertThat(call("OPTIONS", "/v1/databases/blog", READER).statusCode()).isEqualTo(403);
        assertThat(call("OPTIONS", "/v1/databases/blog", ADMIN).statusCode()).isEqualTo(200);
        assertThat(apiJson("GET", "/v1/databases/blog/base-backups", ADMIN)).as("nothing was started").hasSize(1);
    }

    @Test
    @Order(6)
    void theContentSecurityPolicyBlockedNothingOfThePage() {
        List<String> log = browser.manage().logs().get("browser").getAll().stream().map(Object::toString).toList();
        assertThat(log).as("the browser's log is read: it holds the wrong token's 401").anyMatch(line -> line.contains("401"));
        assertThat(log).noneMatch(line -> line.contains("Content Security Policy") || line.contains("Uncaught"));
    }

    private void register(String id, PostgresCluster cluster) throws Exception {
        String body = "{\"id\":\"" + id + "\",\"pgUrl\":\"" + cluster.url() + "\",\"pgdata\":\"" + cluster.dataDirectory() + "\"}";
        HttpResponse<String> created = HTTP.send(request("POST", "/v1/databases", ADMIN)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
    }

    private void open(String path) {
        browser.get("http://127.0.0.1:" + port + path);
    }

    private void signIn(String token) {
        WebElement field = await(d -> visible(By.id("token")));
        field.clear();
        field.sendKeys(token);
        browser.findElement(By.cssSelector("#login button[type=submit]")).click();
    }

    /** Sets the time picker as a user's typing would (typing into datetime-local depends on the browser's locale). */
    private void chooseTime(String value) {
        browser.executeScript("const t = document.getElementById('restore-time'); t.value = arguments[0];"
                + "t.dispatchEvent(new Event('input', {bubbles: true}))", value);
        assertThat(browser.findElement(By.id("restore-time")).getAttribute("value")).as("whole minutes are shown without seconds")
                .isEqualTo(value.endsWith(":00") ? value.substring(0, 16) : value);
    }

    private void screenshot(String name, int height) throws Exception {
        Path docs = Path.of("").toAbsolutePath().getParent().resolve("docs");
        if (!Files.isDirectory(docs)) {
            return;
        }
        browser.manage().window().setSize(new Dimension(1400, height));
        browser.executeScript("window.scrollTo(0, 0)");
        Thread.sleep(300);
        Files.createDirectories(docs.resolve("console"));
        Files.write(docs.resolve("console").resolve(name), browser.getScreenshotAs(OutputType.BYTES));
    }

    private WebElement visible(By by) {
        List<WebElement> found = browser.findElements(by);
        return !found.isEmpty() && found.get(0).isDisplayed() ? found.get(0) : null;
    }

    private String attribute(By by, String name) {
        List<WebElement> found = browser.findElements(by);
        return found.isEmpty() ? null : found.get(0).getAttribute(name);
    }

    private Object script(String js) {
        return ((JavascriptExecutor) browser).executeScript(js);
    }

    /** Clicks the first element by finds, found again if the page redrew it in between (the views refresh as they poll). */
    private void click(By by) {
        await(d -> {
            d.findElement(by).click();
            return true;
        });
    }

    private <T> T await(Function<org.openqa.selenium.WebDriver, T> condition) {
        return await(Duration.ofSeconds(20), condition);
    }

    private <T> T await(Duration timeout, Function<org.openqa.selenium.WebDriver, T> condition) {
        return new WebDriverWait(browser, timeout, Duration.ofMillis(200))
                .ignoring(org.openqa.selenium.StaleElementReferenceException.class)
                .ignoring(org.openqa.selenium.NoSuchElementException.class)
                .until(condition);
    }

    private HttpRequest.Builder request(String method, String path, String token) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).header("Authorization", "Bearer " + token)
                .method(method, HttpRequest.BodyPublishers.noBody());
    }

    private HttpResponse<String> call(String method, String path, String token) throws Exception {
        return HTTP.send(request(method, path, token).build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode apiJson(String method, String path, String token) {
        try {
            HttpResponse<String> r = call(method, path, token);
            assertThat(r.statusCode()).as(method + " " + path + ": " + r.body()).isBetween(200, 299);
            return JSON.readTree(r.body());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private String status(String path) {
        return apiJson("GET", path, READER).path("status").asText();
    }
}
