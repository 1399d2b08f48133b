package dev.tidemark.api.server;

import dev.tidemark.engine.operations.ConflictException;
import dev.tidemark.engine.operations.ForbiddenException;
import dev.tidemark.engine.operations.InvalidRequestException;
import dev.tidemark.engine.operations.NotFoundException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatus;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.http.converter.HttpMessageNotReadableException;
import org.springframework.web.HttpRequestMethodNotSupportedException;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.context.request.ServletWebRequest;
import org.springframework.web.context.request.WebRequest;
import org.springframework.web.servlet.mvc.method.annotation.ResponseEntityExceptionHandler;
import org.springframework.web.servlet.resource.NoResourceFoundException;

/** Every error as application/problem+json saying what was wrong; expected errors are not logged with a stack trace. */
@RestControllerAdvice
public class Problems extends ResponseEntityExceptionHandler {
    private static final Logger LOG = LoggerFactory.getLogger(Problems.class);

    @ExceptionHandler(NotFoundException.class)
    ProblemDetail notFound(NotFoundException e) {
        return problem(HttpStatus.NOT_FOUND, "Not found", e.getMessage());
    }

    @ExceptionHandler(ConflictException.class)
    ProblemDetail conflict(ConflictException e) {
        return problem(HttpStatus.CONFLICT, "Conflict", e.getMessage());
    }

    @ExceptionHandler(ForbiddenException.class)
    ProblemDetail forbidden(ForbiddenException e) {
        return problem(HttpStatus.FORBIDDEN, "Forbidden", e.getMessage());
    }

    @ExceptionHandler({InvalidRequestException.class, IllegalArgumentException.class})
    ProblemDetail invalid(RuntimeException e) {
        return problem(HttpStatus.BAD_REQUEST, "Invalid request", e.getMessage());
    }

    @ExceptionHandler(Exception.class)
    ProblemDetail unexpected(Exception e, jakarta.servlet.http.HttpServletRequest request, jakarta.servlet.http.HttpServletResponse response)
            throws Exception {
        if (response.isCommitted()) {
            // a download that failed after it began: no problem document can follow the bytes sent. Thrown on, Tomcat
            // closes the connection without the answer's end, so the client knows it is incomplete
            // (not as Tomcat's ClientAbortException: Tomcat would then end the answer properly, and a cut archive
            // would look whole)
            if (e instanceof org.apache.catalina.connector.ClientAbortException) {
                LOG.info("{} {}: the client went away before the answer ended", request.getMethod(), request.getRequestURI());
            } else {
                LOG.warn("{} {}: the answer was cut short: {}", request.getMethod(), request.getRequestURI(), e.getMessage());
            }
            throw e;
        }
        LOG.error("request failed unexpectedly", e);
        return problem(HttpStatus.INTERNAL_SERVER_ERROR, "Internal error",
                "the request failed: " + e.getMessage() + " (the server log has the details)");
    }

    @Override
    protected ResponseEntity<Object> handleHttpMessageNotReadable(HttpMessageNotReadableException e, HttpHeaders headers,
                                                                  HttpStatusCode status, WebRequest request) {
        Throwable cause = e.getMostSpecificCause();
        // Jackson's own exception names the field; the most specific cause below it (a time parser's) does not
        for (Throwable t = e.getCause(); t != null && t != t.getCause(); t = t.getCause()) {
            if (t instanceof com.fasterxml.jackson.databind.JsonMappingException) {
                cause = t;
                break;
            }
        }
        String detail;
        if (cause instanceof com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException u) {
            detail = "unknown field '" + u.getPropertyName() + "'" + (u.getKnownPropertyIds() == null ? ""
                    : u.getKnownPropertyIds().isEmpty() ? " (this request takes no fields: send no body, or {})"
                    : " (the fields are " + u.getKnownPropertyIds().stream().map(Object::toString).sorted()
                    .collect(java.util.stream.Collectors.joining(", ")) + ")");
        } else if (cause instanceof com.fasterxml.jackson.databind.exc.MismatchedInputException m && !m.getPath().isEmpty()) {
            String field = m.getPath().stream().map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                    .collect(java.util.stream.Collectors.joining("."));
            detail = "field '" + field + "' must be " + expected(m.getTargetType());
        } else if (cause instanceof com.fasterxml.jackson.databind.exc.MismatchedInputException) {
            detail = "the body must be a JSON object";
        } else if (e.getMessage() != null && e.getMessage().startsWith("Required request body is missing")) {
            detail = "the request has no body";
        } else {
            detail = cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
            if (detail.contains("\n")) {
                detail = detail.substring(0, detail.indexOf('\n'));
            }
            detail = detail.replaceAll(" ?\\(?(class|for type) `?[a-z][\\w.$]*`?\\)?", ""); // no Java type names for an operator
        }
        return ResponseEntity.badRequest().body(problem(HttpStatus.BAD_REQUEST, "Malformed request body",
                "the request body is not the JSON this endpoint takes: " + detail + " (see /v1/openapi)"));
    }

    /** A path no endpoint (nor a page of the console) answers: said so, with where the endpoints are listed. */
    @Override
    protected ResponseEntity<Object> handleNoResourceFoundException(NoResourceFoundException e, HttpHeaders headers,
                                                                    HttpStatusCode status, WebRequest request) {
        return ResponseEntity.status(HttpStatus.NOT_FOUND).body(problem(HttpStatus.NOT_FOUND, "Not found",
                "no endpoint answers " + e.getHttpMethod() + " /" + e.getResourcePath()
                        + ": the API's endpoints are listed at /v1/openapi"));
    }

    /** A method the path does not take: the ones it does (they are in the Allow header as well). */
    @Override
    protected ResponseEntity<Object> handleHttpRequestMethodNotSupported(HttpRequestMethodNotSupportedException e, HttpHeaders headers,
                                                                         HttpStatusCode status, WebRequest request) {
        String path = request instanceof ServletWebRequest servlet ? servlet.getRequest().getRequestURI() : "this path";
        String allowed = e.getSupportedHttpMethods() == null || e.getSupportedHttpMethods().isEmpty() ? ""
                : ": it takes " + e.getSupportedHttpMethods().stream().map(HttpMethod::name).sorted()
                .collect(java.util.stream.Collectors.joining(", "));
        return ResponseEntity.status(HttpStatus.METHOD_NOT_ALLOWED).headers(headers).body(problem(HttpStatus.METHOD_NOT_ALLOWED,
                "Method not allowed", e.getMethod() + " is not taken by " + path + allowed + " (see /v1/openapi)"));
    }

    /** What a JSON field of this Java type takes, in an operator's words. */
    private static String expected(Class<?> type) {
        if (type == null) {
            return "of another type";
        }
        if (type == Integer.class || type == Long.class || type == Short.class || type == int.class || type == long.class
                || type == short.class) {
            return "a whole number";
        }
        if (Number.class.isAssignableFrom(type) || (type.isPrimitive() && type != boolean.class)) {
            return "a number";
        }
        if (type == Boolean.class || type == boolean.class) {
            return "true or false";
        }
        if (type == String.class) {
            return "a string";
        }
        if (type == java.time.Duration.class) {
            return "an ISO-8601 duration such as P7D or PT36H";
        }
        if (java.time.temporal.Temporal.class.isAssignableFrom(type)) {
            return "an ISO-8601 time with an offset, such as 2026-11-24T10:41:07+01:00";
        }
        if (java.util.Collection.class.isAssignableFrom(type) || type.isArray()) {
            return "a list";
        }
        return "an object";
    }

    private static ProblemDetail problem(HttpStatus status, String title, String detail) {
        ProblemDetail p = ProblemDetail.forStatusAndDetail(status, detail);
        p.setTitle(title);
        return p;
    }
}
