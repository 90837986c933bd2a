"""/api/ URL map (included by xmppsite/urls.py)."""

from django.urls import path, re_path

from commands import views

app_name = "commands"
urlpatterns = [
    path("openapi.json", views.openapi_view, name="openapi"),
    path("commands", views.commands_index_view, name="commands"),
    path("commands/<str:name>", views.command_view, name="command"),
    path("users", views.users_view, name="users"),
    path("users/<str:jid>", views.user_view, name="user"),
    path("users/<str:jid>/password", views.user_password_view, name="user-password"),
    path("users/<str:jid>/disable", views.user_disable_view, name="user-disable"),
    path("users/<str:jid>/enable", views.user_enable_view, name="user-enable"),
    path("users/<str:jid>/sessions", views.user_sessions_view, name="user-sessions"),
    path("users/<str:jid>/export", views.user_export_view, name="user-export"),
    path("users/<str:jid>/roster", views.roster_view, name="roster"),
    path("users/<str:jid>/roster/<str:contact>", views.roster_item_view, name="roster-item"),
    path("sessions", views.sessions_view, name="sessions"),
    path("sessions/<path:jid>", views.session_view, name="session"),
    path("stats", views.stats_view, name="stats"),
    path("messages", views.messages_view, name="messages"),
    path("announcements", views.announcements_view, name="announcements"),
    path("motd/<str:domain>", views.motd_view, name="motd"),
    path("tasks", views.tasks_view, name="tasks"),
    path("tasks/<str:task_id>", views.task_view, name="task"),
    re_path(r"^.*$", views.not_found, name="not-found"),  # JSON errors for every /api/ path
]
