package dev.tidemark.api.server;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The {@code tidemark.*} keys of a YAML configuration file that name no setting. Spring binds what it knows and
 * ignores the rest, so a misspelt key ({@code repositry:}) would quietly leave its default in place: backups in the
 * default directory instead of the bucket. Keys are compared as Spring's relaxed binding compares them (case, dashes and
 * underscores aside). Only the file is checked: the environment holds TIDEMARK_* variables for other programs too.
 */
public final class ConfigKeys {

    private ConfigKeys() {
    }

    /** One message per unknown key, naming the keys allowed where it stands. */
    public static List<String> unknown(Iterable<Object> documents) {
        List<String> problems = new ArrayList<>();
        for (Object document : documents) {
            if (document instanceof Map<?, ?> root) {
                for (Map.Entry<?, ?> e : root.entrySet()) {
                    List<String> path = Arrays.asList(String.valueOf(e.getKey()).split("\\."));
                    if (normal(path.get(0)).equals("tidemark")) {
                        check(TidemarkProperties.class, path.subList(1, path.size()), e.getValue(), "tidemark", problems);
                    }
                }
            }
        }
        return problems;
    }

    private static void check(Class<?> type, List<String> path, Object value, String at, List<String> problems) {
        if (path.isEmpty()) {
            if (value instanceof Map<?, ?> map) {
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    check(type, Arrays.asList(String.valueOf(e.getKey()).split("\\.")), e.getValue(), at, problems);
                }
            } else if (value != null) {
                problems.add(at + " takes settings under it (" + known(type) + "), not a value");
            }
            return;
        }
        String name = path.get(0);
        boolean indexed = name.matches(".+\\[\\d+]"); // tokens[0].name, Spring's flat form of a list element
        Field field = field(type, indexed ? name.substring(0, name.indexOf('[')) : name);
        if (field == null) {
            problems.add("unknown setting " + at + "." + name + " (known under " + at + ": " + known(type) + ")");
            return;
        }
        String here = at + "." + name;
        List<String> rest = path.subList(1, path.size());
        Class<?> fieldType = field.getType();
        if (Map.class.isAssignableFrom(fieldType)) {
            return; // named entries (pg-passwords.<database>)
        }
        if (List.class.isAssignableFrom(fieldType)) {
            Class<?> element = elementType(field);
            if (indexed && element != null && isGroup(element)) {
                check(element, rest, value, here, problems);
                return;
            }
            if (element != null && isGroup(element) && rest.isEmpty() && value instanceof List<?> items) {
                for (int i = 0; i < items.size(); i++) {
                    check(element, List.of(), items.get(i), here + "[" + i + "]", problems);
                }
            }
            return;
        }
        if (isGroup(fieldType)) {
            check(fieldType, rest, value, here, problems);
        } else if (!rest.isEmpty() || value instanceof Map<?, ?>) {
            problems.add(here + " is a single value; it has no settings under it");
        }
    }

    private static boolean isGroup(Class<?> type) {
        return type.getDeclaringClass() == TidemarkProperties.class;
    }

    private static Class<?> elementType(Field field) {
        if (field.getGenericType() instanceof ParameterizedType p && p.getActualTypeArguments()[0] instanceof Class<?> c) {
            return c;
        }
        return null;
    }

    private static Field field(Class<?> type, String key) {
        String wanted = normal(key);
        for (Field f : type.getDeclaredFields()) {
            if (!Modifier.isStatic(f.getModifiers()) && normal(f.getName()).equals(wanted)) {
                return f;
            }
        }
        return null;
    }

    /** The keys of a group as the documentation spells them (data-directory). */
    private static String known(Class<?> type) {
        return Arrays.stream(type.getDeclaredFields()).filter(f -> !Modifier.isStatic(f.getModifiers()))
                .map(f -> f.getName().replaceAll("([A-Z])", "-$1").toLowerCase(Locale.ROOT)).collect(Collectors.joining(", "));
    }

    private static String normal(String key) {
        return key.replace("-", "").replace("_", "").toLowerCase(Locale.ROOT);
    }
}
