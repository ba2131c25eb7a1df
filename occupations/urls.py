from django.urls import path

from occupations import views

app_name = "occupations"

urlpatterns = [
    path("tasks/", views.my_tasks, name="my_tasks"),
    path("tasks/new/", views.new_task, name="new_task"),
    path("tasks/import/", views.import_tasks, name="import"),
    path("tasks/export.jsonl", views.export_tasks, name="export"),
    path("tasks/<slug:slug>/", views.task_detail, name="task"),
    path("tasks/<slug:slug>/edit/", views.edit_task, name="edit"),
    path("tasks/<slug:slug>/new-version/", views.new_version, name="new_version"),
    path("tasks/<slug:slug>/review/", views.review_task, name="review"),
    path("tasks/<slug:slug>/publish/", views.publish_task, name="publish"),
    path("tasks/<slug:slug>/retire/", views.retire_task, name="retire"),
    path("tasks/<slug:slug>/comment/", views.comment_task, name="comment"),
    path("tasks/<slug:slug>/diff/", views.diff_versions, name="diff"),
    path("tasks/<slug:slug>/attachments/", views.upload_attachment, name="upload_attachment"),
    path("attachments/<int:pk>/", views.download_attachment, name="attachment"),
    path("attachments/<int:pk>/delete/", views.delete_attachment, name="delete_attachment"),
    path("review/", views.review_queue, name="review_queue"),
    path("panels/<slug:slug>/", views.panel_detail, name="panel"),
    path("suites/", views.suite_list, name="suites"),
    path("suites/new/", views.suite_edit, name="new_suite"),
    path("suites/<slug:slug>/", views.suite_edit, name="suite"),
]
